"""The admin listener (logs, blacklist, /metrics) opens only when the file has `admin:`."""

import sys

import pytest

from tests.daemon.conftest import Daemon, free_port
from tests.daemon.listening import listening_ports

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def config_text(directory, http_port: int, admin: str) -> str:
    return f"""
database: {{url: "sqlite:///{directory}/gatewayd.db"}}
http: {{listen: ["127.0.0.1:{http_port}"]}}
{admin}
"""


def test_without_an_admin_section_only_the_api_listens(tmp_path):
    http_port = free_port()
    daemon = Daemon(tmp_path, config_text(tmp_path, http_port, "")).start()
    try:
        daemon.wait_ready()
        assert listening_ports(daemon.process.pid) == {http_port}
    finally:
        daemon.close()


def test_with_an_admin_section_the_admin_listener_opens_too(tmp_path):
    http_port, admin_port = free_port(), free_port()
    admin = f'admin: {{listen: ["127.0.0.1:{admin_port}"], token: t0ken-t0ken}}'
    daemon = Daemon(tmp_path, config_text(tmp_path, http_port, admin)).start()
    try:
        daemon.wait_ready()
        assert listening_ports(daemon.process.pid) == {http_port, admin_port}
    finally:
        daemon.close()
