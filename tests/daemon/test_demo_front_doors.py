"""config/demo.yaml as a new user runs it: HTTP, e-mail and SMPP each end in a delivered SMS."""

import json
import shutil
import smtplib
import subprocess
import time
import urllib.request
from email.message import EmailMessage
from pathlib import Path

import pytest

from gatewayd.core.statuses import Status
from tests.daemon.conftest import Daemon, free_port

DEMO = Path(__file__).resolve().parents[2] / "config" / "demo.yaml"
PERL_ESME = Path(__file__).resolve().parents[1] / "interop" / "perl_esme.pl"


def demo_on_free_ports(directory: Path) -> tuple[str, dict[str, int]]:
    ports = {name: free_port() for name in ("http", "admin", "smtp", "smpp")}
    text = DEMO.read_text().replace("sqlite:///../var/gatewayd.db", f"sqlite:///{directory}/g.db")
    for name, default in (("http", 8080), ("admin", 8081), ("smtp", 2525), ("smpp", 2775)):
        text = text.replace(f"127.0.0.1:{default}", f"127.0.0.1:{ports[name]}")
    return text, ports


def status_code(http_port: int, message_id: str) -> str:
    url = (
        f"http://127.0.0.1:{http_port}/sms/v1/StatusMessage?apiKey=demo-key-0123456789"
        f"&messageId={message_id}"
    )
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)["StatusCode"]


def wait_delivered(http_port: int, message_id: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while status_code(http_port, message_id) != Status.DELIVERED.code:
        assert time.monotonic() < deadline, f"{message_id} not delivered in {timeout}s"
        time.sleep(0.1)  # polling a subprocess over HTTP: bounded by the deadline above


@pytest.mark.skipif(shutil.which("perl") is None, reason="perl is not installed")
def test_mail_and_smpp_on_the_demo_configuration_are_delivered(tmp_path):
    text, ports = demo_on_free_ports(tmp_path)
    daemon = Daemon(tmp_path, text).start()
    try:
        daemon.wait_ready()
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = "me@example.com", "x", "demo"
        mail.set_content("Hello by mail")
        with smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=10) as client:
            client.login("demo-app", "demo-key-0123456789")
            client.mail("me@example.com")
            assert client.rcpt("32470000001@sms.demo.test")[0] == 250
            code, answer = client.data(mail.as_bytes())
        assert code == 250, answer
        wait_delivered(ports["http"], answer.decode().rsplit(" ", 1)[1])
        esme = subprocess.run(
            ["perl", str(PERL_ESME), str(ports["smpp"]), "demo", "demo-pw"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert esme.returncode == 0, esme.stderr
        message_id = esme.stdout.split()[2]
        wait_delivered(ports["http"], message_id)
        assert "stat:DELIVRD" in esme.stdout
    finally:
        status, _ = daemon.stop(timeout=10)
    assert status == 0
