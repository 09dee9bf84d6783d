"""The README's Incoming and STOP examples on config/demo.yaml, as a new user runs them:
`gatewayd simulate-mo` makes the demo's simulator deliver an SMS, Incoming polling returns
it, and a STOP puts the sender on the blacklist `gatewayd blacklist list` prints."""

import json
import urllib.request

from tests.daemon.conftest import Daemon
from tests.daemon.test_cli_commands import run_elsewhere
from tests.daemon.test_demo_front_doors import demo_on_free_ports


def incoming(http_port: int) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{http_port}/sms/v1/Incoming",
        data=json.dumps({"apiKey": "demo-key-0123456789"}).encode(),
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_simulate_mo_reaches_incoming_polling_and_stop_blacklists(tmp_path):
    text, ports = demo_on_free_ports(tmp_path)
    daemon = Daemon(tmp_path, text).start()
    config = str(daemon.config_path)
    try:
        daemon.wait_ready()
        hello = run_elsewhere(
            tmp_path,
            "simulate-mo",
            "--from",
            "32470000001",
            "--to",
            "8686",
            "--text",
            "Hi!",
            GATEWAYD_CONFIG=config,
        )
        assert hello.returncode == 0, hello.stderr
        assert hello.stdout.strip() == (
            "32470000001 -> 8686: delivered by simulator, acknowledged by gatewayd"
        )
        page = incoming(ports["http"])
        assert [(m["From"], m["Message"]) for m in page["IncomingMessages"]] == [
            ("32470000001", "Hi!")
        ]
        stop = run_elsewhere(
            tmp_path,
            "simulate-mo",
            "--from",
            "32470000001",
            "--to",
            "8686",
            "--text",
            "STOP",
            GATEWAYD_CONFIG=config,
        )
        assert stop.returncode == 0, stop.stderr
        listing = run_elsewhere(
            tmp_path, "blacklist", "list", "--account", "demo", GATEWAYD_CONFIG=config
        )
        assert listing.returncode == 0 and listing.stdout.startswith("32470000001  stop"), listing
        wrong = run_elsewhere(
            tmp_path,
            "simulate-mo",
            "--from",
            "32470000001",
            "--to",
            "8686",
            "--text",
            "x",
            "--carrier",
            "nope",
            GATEWAYD_CONFIG=config,
        )
        assert wrong.returncode == 1
        assert wrong.stderr.strip().endswith("no carrier 'nope' with simulator: set"), wrong.stderr
    finally:
        daemon.close()
    stopped = run_elsewhere(
        tmp_path,
        "simulate-mo",
        "--from",
        "32470000001",
        "--to",
        "8686",
        "--text",
        "x",
        GATEWAYD_CONFIG=config,
    )
    assert stopped.returncode == 1 and len(stopped.stderr.splitlines()) == 1
    assert "cannot reach the admin API" in stopped.stderr
