"""The status page in a real browser: Debian's headless Chromium renders /admin/status of the
real `gatewayd run` on config/demo.yaml with two HTTP workers, after traffic went through the
workers to the SMSC simulator; what the page shows is what status.json says."""

import base64
import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from html import unescape

import pytest

from tests.daemon.conftest import Daemon
from tests.daemon.test_demo_front_doors import demo_on_free_ports, wait_delivered
from tests.daemon.test_http_workers import send

CHROMIUM = shutil.which("chromium")
TOKEN = "demo-admin-token"
SENT = 4

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
)


def admin_get(port: int, path: str, authorization: str | None) -> tuple[int, bytes]:
    headers = {"Authorization": authorization} if authorization else {}
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def rendered(port: int, tmp_path) -> str:
    """The page's DOM once its script has run and refreshed it once, as Chromium shows it
    (the token passed as a browser does from the address bar, by HTTP Basic authentication)."""
    done = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--virtual-time-budget=7000",  # past the first refresh (5 s)
            "--dump-dom",
            f"http://admin:{TOKEN}@127.0.0.1:{port}/admin/status",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout, done.stderr[-3000:]
    return done.stdout


def cells(dom: str, row_attribute: str) -> list[str]:
    """The texts of the cells of the table row carrying `row_attribute`."""
    row = re.search(rf"<tr {row_attribute}>(.*?)</tr>", dom, re.S)
    assert row, f"no row {row_attribute} in the page"
    return [
        unescape(re.sub("<[^>]+>", "", cell)) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row[1])
    ]


def test_the_browser_shows_the_carrier_the_bind_and_the_traffic(tmp_path):
    text, ports = demo_on_free_ports(tmp_path)
    text = text.replace("http:\n", "http:\n  workers: 2\n", 1)
    daemon = Daemon(tmp_path, text).start()
    try:
        daemon.wait_ready()
        for n in range(SENT):
            status, answer = send(ports["http"], to=f"3247000000{n}")
            assert status == 200, answer
            wait_delivered(ports["http"], answer["Messages"][0]["MessageId"])
        assert send(ports["http"], key="wrong-key-0123456789")[0] == 400
        for path in ("/admin/status", "/admin/status.json"):
            for wrong in (None, "Bearer wrong", "Basic " + base64.b64encode(b"admin:no").decode()):
                assert admin_get(ports["admin"], path, wrong)[0] == 401, (path, wrong)
        code, body = admin_get(ports["admin"], "/admin/status.json", f"Bearer {TOKEN}")
        assert code == 200
        report = json.loads(body)
        dom = rendered(ports["admin"], tmp_path)
    finally:
        status, stderr = daemon.stop(timeout=20)
    assert status == 0, stderr

    (carrier,) = report["carriers"]
    assert carrier["submits"]["total"] == carrier["receipts"]["total"] == SENT
    refusals = {entry["name"]: entry["total"] for entry in report["front_doors"]["refusals"]}
    assert refusals == {"14": 1}, "counted in the worker that refused it"
    shown = cells(dom, 'data-carrier="simulator"')
    assert shown[0] == "simulator" and shown[1] == "1 of 1"
    assert shown[3] == str(SENT), shown
    bind = cells(dom, 'data-bind="simulator#0trx"')
    assert bind[1] == "trx" and bind[2].endswith("ago")
    assert re.search(r"<td[^>]*>14</td><td[^>]*>ApiKey invalid</td><td[^>]*>1</td>", dom)
    chart = re.search(r'<polyline points="([^"]+)"[^>]*data-series="submits/simulator"', dom)
    assert chart, "no chart of the carrier's submits"
    points = chart[1].split()
    assert points and all(re.fullmatch(r"[\d.]+,[\d.]+", point) for point in points)
    assert re.search(r'<body data-refreshes="[1-9]', dom), "refreshed from status.json"
    assert '<span id="stale"></span>' in dom
