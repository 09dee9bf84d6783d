"""The daemon as systemd runs it: readiness, watchdog, reload, stop, and startup failures."""

import signal
import socket
import time
import urllib.request

import pytest

from tests.daemon.conftest import Daemon, daemon_config, free_port


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_ready_then_sigterm_stops_with_exit_0_within_5_seconds(daemon):
    gatewayd = daemon()
    gatewayd.wait_ready()
    assert get(gatewayd.http_port, "/healthz")[0] == 200
    assert get(gatewayd.http_port, "/readyz")[0] == 200
    started = time.monotonic()
    status, stderr = gatewayd.stop(timeout=5)
    assert status == 0, stderr
    assert time.monotonic() - started < 5
    gatewayd.notify.wait_for("STOPPING=1", timeout=1)


def test_sigint_also_stops_cleanly(daemon):
    gatewayd = daemon()
    gatewayd.wait_ready()
    gatewayd.signal(signal.SIGINT)
    assert gatewayd.process.wait(timeout=5) == 0


def test_the_watchdog_is_fed(daemon):
    gatewayd = daemon(WATCHDOG_USEC="200000")
    gatewayd.wait_ready()
    gatewayd.notify.wait_for("WATCHDOG=1", timeout=5)
    gatewayd.notify.wait_for("WATCHDOG=1", timeout=5)


def test_a_broken_file_on_reload_is_refused_and_the_old_configuration_serves(daemon):
    gatewayd = daemon()
    gatewayd.wait_ready()
    good = gatewayd.config_path.read_text()
    gatewayd.config_path.write_text(good + "\nhttp: {lisen: nope}\n")
    gatewayd.signal(signal.SIGHUP)
    gatewayd.notify.wait_for("RELOADING=1")
    gatewayd.notify.wait_for("READY=1")
    metrics = get(gatewayd.admin_port, "/metrics")[1].decode()
    assert 'gatewayd_config_reloads_total{outcome="refused"} 1.0' in metrics
    assert "gatewayd_config_generation 1.0" in metrics
    assert get(gatewayd.http_port, "/readyz")[0] == 200

    gatewayd.config_path.write_text(good)
    gatewayd.signal(signal.SIGHUP)
    gatewayd.notify.wait_for("RELOADING=1")
    gatewayd.notify.wait_for("READY=1")
    metrics = get(gatewayd.admin_port, "/metrics")[1].decode()
    assert "gatewayd_config_generation 2.0" in metrics
    status, stderr = gatewayd.stop()
    assert status == 0
    assert "reload refused, keeping the running configuration: http.lisen: unknown key" in stderr


def run_until_exit(directory, config: str) -> tuple[int, str]:
    """Start the daemon on `config`, expecting it to stop by itself: (status, stderr)."""
    instance = Daemon(directory, config)
    try:
        instance.start()
        _, stderr = instance.process.communicate(timeout=30)
    finally:
        instance.close()
    return instance.process.returncode, stderr


def test_a_port_in_use_is_one_clear_line_and_a_failure_exit(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status, stderr = run_until_exit(tmp_path, daemon_config(tmp_path, port, free_port()))
    assert status == 1
    lines = [line for line in stderr.splitlines() if line.startswith("gatewayd: ")]
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "in use" in lines[0]
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    ("name", "section"),
    [
        ("smtp", 'smtp: {{listen: ["127.0.0.1:{port}"], domain: sms.test}}'),
        ("smpp_server", 'smpp_server: {{listen: ["127.0.0.1:{port}"]}}'),
        ("api", None),
    ],
    ids=["smtp", "smpp_server", "api served by a worker"],
)
def test_every_front_door_port_in_use_is_one_clear_line(tmp_path, name, section):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        if section is None:
            config = daemon_config(tmp_path, port, free_port())
            config = config.replace("http: {", "http: {workers: 1, ", 1)
        else:
            config = daemon_config(tmp_path, free_port(), free_port()) + section.format(port=port)
        status, stderr = run_until_exit(tmp_path, config)
    assert status == 1
    lines = [line for line in stderr.splitlines() if line.startswith("gatewayd: ")]
    assert lines == [f"gatewayd: {name}: cannot listen on 127.0.0.1:{port}: address already in use"]
    assert "Traceback" not in stderr


def test_an_unreachable_database_is_one_clear_line_and_a_failure_exit(tmp_path):
    config = daemon_config(tmp_path, free_port(), free_port()).replace(
        f"sqlite:///{tmp_path}/gatewayd.db", "postgresql://nobody@127.0.0.1:9/none"
    )
    status, stderr = run_until_exit(tmp_path, config)
    assert status == 1
    assert "gatewayd: database postgresql+psycopg://nobody@127.0.0.1:9/none" in stderr
    assert "Traceback" not in stderr


@pytest.mark.postgres
def test_postgres_that_is_not_migrated_is_refused_with_the_command_to_run(tmp_path):
    import psycopg

    from tests.conftest import POSTGRES_ADMIN_URL

    name = f"gatewayd_unmigrated_{tmp_path.name[-8:].replace('-', '_')}"
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL.replace("+psycopg", ""), autocommit=True)
    except psycopg.OperationalError as error:
        pytest.skip(f"no PostgreSQL server: {error}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            config = daemon_config(tmp_path, free_port(), free_port()).replace(
                f"sqlite:///{tmp_path}/gatewayd.db", f"{base}/{name}"
            )
            status, stderr = run_until_exit(tmp_path, config)
            assert status == 1
            assert "database schema is at revision none" in stderr
            assert "run `gatewayd migrate`" in stderr
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
