"""`gatewayd admin ...` against the real daemon (`gatewayd run` on the demo configuration, on
both databases): what each command prints, a suspension that outlives a restart, reload,
maintenance, the audit, and one line on standard error when the daemon is down or refuses."""

import json

from tests.daemon.conftest import Daemon
from tests.daemon.test_demo_front_doors import demo_on_free_ports, status_code, wait_delivered
from tests.daemon.test_http_workers import send

NEW_KEY = "newer-key-0123456789"


def _started(tmp_path, database_url: str) -> tuple[Daemon, dict[str, int]]:
    text, ports = demo_on_free_ports(tmp_path)
    text = text.replace(f"sqlite:///{tmp_path}/g.db", database_url)
    daemon = Daemon(tmp_path, text).start()
    daemon.wait_ready()
    return daemon, ports


def test_admin_commands_from_the_command_line(tmp_path, database_url, run_cli):
    daemon, ports = _started(tmp_path, database_url)
    config = str(daemon.config_path)

    def admin(*args: str) -> str:
        done = run_cli("admin", *args, "--config", config)
        assert (done.returncode, done.stderr) == (0, ""), done
        return done.stdout

    try:
        assert admin("suspend", "simulator") == "simulator: suspended\n"
        status, answer = send(ports["http"])
        assert status == 200
        waiting = answer["Messages"][0]["MessageId"]
        daemon.stop(timeout=20)

        daemon.start()
        daemon.wait_ready()
        (line,) = admin("carriers").splitlines()
        assert line.startswith("simulator  suspended by admin since ")
        assert line.endswith("(simulator#0trx trx)"), "its bind is up"
        assert status_code(ports["http"], waiting) == "10", "still waiting after the restart"
        assert admin("resume", "simulator") == "simulator: resumed\n"
        wait_delivered(ports["http"], waiting)

        assert admin("binds") == "simulator  0  simulator#0trx  trx  in flight 0\n"
        assert admin("maintenance", "on").startswith("maintenance on, set by admin since ")
        status, answer = send(ports["http"])
        assert (status, answer["ResultCode"]) == (400, 34)
        assert admin("maintenance", "off") == "maintenance off\n"

        assert send(ports["http"], NEW_KEY)[0] == 400
        text = daemon.config_path.read_text()
        daemon.config_path.write_text(
            text.replace('["demo-key-0123456789"]', f'["demo-key-0123456789", "{NEW_KEY}"]')
        )
        assert admin("reload") == "configuration reloaded (generation 2)\n"
        assert send(ports["http"], NEW_KEY)[0] == 200

        assert admin("webhooks") == "no webhook backlog\n"
        commands = [line.split("  ")[1:4] for line in admin("audit").splitlines()]
        assert commands == [
            ["admin", "reload", "-"],
            ["admin", "maintenance-off", "-"],
            ["admin", "maintenance-on", "-"],
            ["admin", "resume", "simulator"],
            ["admin", "suspend", "simulator"],
        ]
        listed = json.loads(admin("carriers", "--json"))
        assert listed["carriers"][0]["suspended"] is False

        refused = run_cli("admin", "suspend", "nowhere", "--config", config)
        assert refused.returncode == 1 and refused.stdout == ""
        assert refused.stderr == (
            "gatewayd: refused (404): No such endpoint: no carrier 'nowhere' "
            "(carriers: simulator)\n"
        )
    finally:
        daemon.stop(timeout=20)
        daemon.close()

    down = run_cli("admin", "carriers", "--config", config)
    assert down.returncode == 1 and down.stdout == ""
    assert down.stderr.startswith(
        f"gatewayd: the admin API at http://127.0.0.1:{ports['admin']} does not answer "
        "(is the daemon running?): "
    )
    assert down.stderr.count("\n") == 1


def test_a_token_name_the_configuration_does_not_have_is_one_line(tmp_path, run_cli):
    text, _ = demo_on_free_ports(tmp_path)
    config = tmp_path / "gatewayd.yaml"
    config.write_text(text)
    done = run_cli("admin", "carriers", "--as", "mallory", "--config", str(config))
    assert done.returncode == 1
    assert done.stderr == "gatewayd: no admin token named 'mallory' (tokens: admin)\n"
