"""The Message API in worker processes (`http.workers`), as systemd runs the daemon.

The real `gatewayd run` on config/demo.yaml with two workers: messages go through a worker to
the carrier process and are delivered by its SMSC simulator; a worker killed is replaced while
the other serves; SIGHUP reaches every worker; the debug-mode limit is one count for all; the
workers' HTTP counts show in the carrier process's /metrics; SIGTERM and a killed carrier
process leave no worker behind.
"""

import json
import os
import signal
import socket
import sqlite3
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.daemon.conftest import Daemon
from tests.daemon.test_cli_commands import run_elsewhere
from tests.daemon.test_demo_front_doors import demo_on_free_ports, wait_delivered

KEY = "demo-key-0123456789"
WORKERS = 2


def children(pid: int) -> set[int]:
    """The running children of `pid` (started from any of its threads)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.update(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue
    return {child for child in found if alive(child)}


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until(condition, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not within {timeout}s")


def send(port: int, key: str = KEY, to: str = "32470000001", base: str = "v1") -> tuple[int, dict]:
    body = json.dumps({"apiKey": key, "to": to, "message": "via a worker"}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/sms/{base}/Message",
        body,
        {"Content-Type": "application/json", "Connection": "close"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@pytest.fixture
def workers_daemon(tmp_path):
    """Factory: the demo configuration with two HTTP workers (and `account_extra` added to its
    account, `app_extra` to demo-app), started and ready; stopped afterwards."""
    started: list[Daemon] = []

    def make(account_extra: str = "", app_extra: str = "") -> tuple[Daemon, dict[str, int]]:
        text, ports = demo_on_free_ports(tmp_path)
        text = text.replace("http:\n", f"http:\n  workers: {WORKERS}\n", 1)
        text = text.replace("    blacklist: true\n", f"    blacklist: true\n{account_extra}", 1)
        demo_app = "      - name: demo-app\n"
        text = text.replace(demo_app, demo_app + app_extra, 1)
        gatewayd = Daemon(tmp_path, text).start()
        started.append(gatewayd)
        gatewayd.wait_ready()
        return gatewayd, ports

    yield make
    for gatewayd in started:
        gatewayd.close()


def test_a_message_sent_through_a_worker_is_delivered_and_counted(workers_daemon):
    gatewayd, ports = workers_daemon()
    workers = children(gatewayd.process.pid)
    assert len(workers) == WORKERS
    status, answer = send(ports["http"])
    assert status == 200 and answer["ResultCode"] == 0
    wait_delivered(ports["http"], answer["Messages"][0]["MessageId"])
    for _ in range(8):
        assert send(ports["http"])[0] == 200
    status, sandboxed = send(ports["http"], base="sandbox")
    assert status == 200 and sandboxed["ResultCode"] == 0

    def scraped() -> dict[tuple[str, frozenset], float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['admin']}/metrics", timeout=10) as m:
            text = m.read().decode()
        samples = [
            ((sample.name, frozenset(sample.labels.items())), sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ]
        found = dict(samples)
        assert len(found) == len(samples), "the workers' series merged into one each"
        return found

    app = ("application", "demo-app")
    sandbox_delivered = (
        "gatewayd_message_statuses_total",
        frozenset({app, ("carrier", ""), ("status", "Delivered"), ("mode", "sandbox")}),
    )
    metrics = wait_until(
        lambda: (found := scraped()).get(sandbox_delivered) and found,
        what="the sandbox's Delivered in /metrics",
    )
    api_200 = metrics[
        ("gatewayd_http_requests_total", frozenset({("listener", "api"), ("status", "200")}))
    ]
    # 9 sends, the sandbox's and the status polls of wait_delivered, answered 200 by the workers.
    assert api_200 >= 11
    accepted = "gatewayd_messages_accepted_total"
    by_http = {app, ("front_door", "http")}
    assert metrics[(accepted, frozenset({*by_http, ("mode", "live")}))] == 9
    assert metrics[(accepted, frozenset({*by_http, ("mode", "sandbox")}))] == 1
    live_delivered = frozenset({app, ("carrier", "simulator"), ("status", "Delivered")})
    assert metrics[("gatewayd_message_statuses_total", live_delivered | {("mode", "live")})] >= 1


def test_a_killed_worker_is_replaced_while_the_other_serves(workers_daemon):
    gatewayd, ports = workers_daemon()
    first = children(gatewayd.process.pid)
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    answers = [send(ports["http"])[0] for _ in range(20)]
    assert answers == [200] * 20
    replaced = wait_until(
        lambda: (now := children(gatewayd.process.pid)) - first and len(now) == WORKERS and now,
        what="a new worker",
    )
    assert victim not in replaced
    assert [send(ports["http"])[0] for _ in range(10)] == [200] * 10
    with urllib.request.urlopen(f"http://127.0.0.1:{ports['admin']}/metrics", timeout=10) as m:
        assert "gatewayd_http_worker_restarts_total 1.0" in m.read().decode()
    status, stderr = gatewayd.stop(timeout=20)
    assert status == 0, stderr
    assert "exited with status -9; starting another" in stderr


def test_sighup_reaches_every_worker(workers_daemon):
    gatewayd, ports = workers_daemon()
    new_key = "newer-key-0123456789"
    assert send(ports["http"], new_key)[0] == 400
    text = gatewayd.config_path.read_text()
    gatewayd.config_path.write_text(text.replace(f'["{KEY}"]', f'["{KEY}", "{new_key}"]'))
    gatewayd.signal(signal.SIGHUP)
    gatewayd.notify.wait_for("RELOADING=1")
    gatewayd.notify.wait_for("READY=1")
    # Each request on a connection of its own: the kernel hands them to both workers.
    wait_until(lambda: send(ports["http"], new_key)[0] == 200, what="the new key")
    assert [send(ports["http"], new_key)[0] for _ in range(20)] == [200] * 20


def test_maintenance_and_reload_by_admin_command_reach_every_worker(workers_daemon, run_cli):
    gatewayd, ports = workers_daemon()
    config = str(gatewayd.config_path)
    assert run_cli("admin", "maintenance", "on", "--config", config).returncode == 0
    answers = [send(ports["http"]) for _ in range(6)]  # spread over both workers
    assert {(status, answer["ResultCode"]) for status, answer in answers} == {(400, 34)}
    assert run_cli("admin", "maintenance", "off", "--config", config).returncode == 0
    assert [send(ports["http"])[0] for _ in range(6)] == [200] * 6
    new_key = "newer-key-0123456789"
    text = gatewayd.config_path.read_text()
    gatewayd.config_path.write_text(text.replace(f'["{KEY}"]', f'["{KEY}", "{new_key}"]'))
    assert run_cli("admin", "reload", "--config", config).returncode == 0
    gatewayd.notify.wait_for("RELOADING=1")
    wait_until(lambda: send(ports["http"], new_key)[0] == 200, what="the new key")
    assert [send(ports["http"], new_key)[0] for _ in range(20)] == [200] * 20


def test_restarted_workers_serve_the_running_configuration_not_the_edited_file(workers_daemon):
    gatewayd, ports = workers_daemon()
    new_key = "newer-key-0123456789"
    text = gatewayd.config_path.read_text()
    gatewayd.config_path.write_text(text.replace(f'["{KEY}"]', f'["{KEY}", "{new_key}"]'))
    first = children(gatewayd.process.pid)
    for pid in first:
        os.kill(pid, signal.SIGKILL)
    wait_until(
        lambda: len(now := children(gatewayd.process.pid) - first) == WORKERS and now,
        what="two new workers",
    )
    wait_until(lambda: send(ports["http"])[0] == 200, what="the API served again")
    assert [send(ports["http"], new_key)[0] for _ in range(10)] == [400] * 10
    gatewayd.signal(signal.SIGHUP)
    wait_until(lambda: send(ports["http"], new_key)[0] == 200, what="the reloaded key")
    assert [send(ports["http"], new_key)[0] for _ in range(10)] == [200] * 10


def test_the_debug_limit_is_one_count_for_every_worker_and_its_logs_are_masked(workers_daemon):
    _, ports = workers_daemon(account_extra="    debug: true\n")
    statuses = [send(ports["http"])[0] for _ in range(34)]
    assert statuses == [200] * 30 + [403] * 4
    # JSON labelled as a form, as curl -d sends it, with secrets in its status webhook's URL.
    token, signature = "access-token-value-1", "signature-value-22"
    hook = f"https://shop.example/hook?access_token={token}&sig={signature}"
    body = json.dumps({"apiKey": KEY, "to": "32470000001", "message": "x", "statusUrl": hook})
    request = urllib.request.Request(
        f"http://127.0.0.1:{ports['http']}/sms/v1/Message",
        body.encode(),
        {"Content-Type": "application/x-www-form-urlencoded", "Connection": "close"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403, "over the debug limit, and logged"

    def logs() -> list[dict]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{ports['admin']}/admin/applications/demo-app/logs",
            headers={"Authorization": "Bearer demo-admin-token"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            found = json.load(response)["logs"]
        return found if len(found) == 35 else []

    stored = " ".join(log["request_body"] for log in wait_until(logs, what="35 request logs"))
    assert "access_token=" in stored and "sig=" in stored
    for value in [KEY, token, signature]:
        assert value not in stored and value[:4] in stored, value


def test_sigterm_stops_every_worker_then_the_daemon(workers_daemon):
    gatewayd, ports = workers_daemon()
    workers = children(gatewayd.process.pid)
    assert send(ports["http"])[0] == 200
    status, stderr = gatewayd.stop(timeout=20)
    assert status == 0, stderr
    assert not [pid for pid in workers if alive(pid)]
    assert stderr.count("stopped") >= WORKERS + 1
    gatewayd.notify.wait_for("STOPPING=1", timeout=1)


def test_the_workers_stop_when_the_carrier_process_is_killed(workers_daemon):
    gatewayd, _ = workers_daemon()
    workers = children(gatewayd.process.pid)
    gatewayd.process.kill()
    gatewayd.process.wait(timeout=10)
    wait_until(lambda: not [pid for pid in workers if alive(pid)], what="the workers' exit")


def test_a_second_daemon_on_the_same_port_exits_1_and_the_first_serves(workers_daemon, tmp_path):
    gatewayd, ports = workers_daemon()
    (tmp_path / "second").mkdir()
    second = Daemon(tmp_path / "second", gatewayd.config_path.read_text()).start()
    assert second.process.wait(timeout=30) == 1
    assert "address already in use" in second.process.communicate()[1]
    second.close()
    assert send(ports["http"])[0] == 200


def test_a_start_that_fails_after_the_workers_started_leaves_none_behind(tmp_path):
    """The SMTP port is taken: the daemon exits 1 after its workers had started, and none of
    them keeps the API port (a daemon restarted by systemd would find it in use)."""
    text, ports = demo_on_free_ports(tmp_path)
    text = text.replace("http:\n", f"http:\n  workers: {WORKERS}\n", 1)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ports["smtp"]))
        taken.listen()
        gatewayd = Daemon(tmp_path, text).start()
        try:
            assert gatewayd.process.wait(timeout=60) == 1
            stderr = gatewayd.process.communicate()[1]
        finally:
            gatewayd.close()
    assert f"smtp: cannot listen on 127.0.0.1:{ports['smtp']}: address already in use" in stderr
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", ports["http"]))


def incoming(port: int, key: str) -> list[tuple[str, str]]:
    body = json.dumps({"apiKey": key}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/sms/v1/Incoming", body, {"Connection": "close"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return [(m["From"], m["Message"]) for m in json.load(response)["IncomingMessages"]]


def test_incoming_messages_routed_by_keyword_are_polled_through_the_workers(
    workers_daemon, tmp_path
):
    """The README's keyword example on the demo: PROMO goes to demo-promo, the rest to
    demo-app, HELP is answered (the reply delivered), and `gatewayd trace --from` says why."""
    gatewayd, ports = workers_daemon()
    config = str(gatewayd.config_path)
    for sender, text in (
        ("32470000001", "promo summer"),
        ("32470000001", "Hello"),
        ("32470000002", "HELP"),
    ):
        mo = run_elsewhere(
            tmp_path,
            "simulate-mo",
            "--from",
            sender,
            "--to",
            "8686",
            "--text",
            text,
            GATEWAYD_CONFIG=config,
        )
        assert mo.returncode == 0, mo.stderr
    assert incoming(ports["http"], "promo-key-0123456789") == [("32470000001", "promo summer")]
    assert incoming(ports["http"], KEY) == [("32470000001", "Hello"), ("32470000002", "HELP")]
    routed = run_elsewhere(tmp_path, "trace", "--from", "32470000001", GATEWAYD_CONFIG=config)
    assert routed.returncode == 0, routed.stderr
    lines = [line.split(maxsplit=1)[1] for line in routed.stdout.splitlines() if "routed" in line]
    assert lines == [
        "routed         application=demo-app  by=default",
        "routed         application=demo-promo  by=keyword  keyword=PROMO",
    ]
    helped = run_elsewhere(
        tmp_path, "trace", "--from", "32470000002", "--json", GATEWAYD_CONFIG=config
    )
    (trace,) = json.loads(helped.stdout)["incoming"]
    assert trace["incoming"]["action"] == "help"
    wait_delivered(ports["http"], trace["incoming"]["reply"])


def test_priority_and_throughput_cap_hold_for_messages_sent_through_the_workers(
    workers_daemon, tmp_path
):
    """demo-app at priority 2 under a cap of 4 a second: what the workers accept is stored
    with its priority and sent at most 4 a second after the first second's worth."""
    _, ports = workers_daemon(app_extra="        priority: 2\n        submit_max_tps: 4\n")
    ids = []
    for n in range(8):
        status, answer = send(ports["http"], to=f"3247000{n:04d}")
        assert status == 200 and answer["ResultCode"] == 0
        ids.append(answer["Messages"][0]["MessageId"])
    for message_id in ids:
        wait_delivered(ports["http"], message_id)
    with sqlite3.connect(tmp_path / "g.db") as db:
        priorities = {row[0] for row in db.execute("select priority from messages")}
        sent = sorted(
            datetime.fromisoformat(row[0])
            for row in db.execute("select time_sent from message_parts")
        )
    assert priorities == {2}
    assert len(sent) == 8 and (sent[-1] - sent[0]).total_seconds() >= (8 - 4) / 4 - 0.2
