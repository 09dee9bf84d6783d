"""A whole gateway in the test's trio run: real database, simulator over TCP, HTTP on loopback."""

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trio

from gatewayd.config.holder import ConfigHolder
from gatewayd.config.loader import parse_config
from gatewayd.daemon import Runtime, _build_work, _start_work, prepare_database
from gatewayd.metrics import Metrics
from gatewayd.protocols.http.service import serve_admin, serve_api
from gatewayd.protocols.smpp.simulator import Simulator
from gatewayd.protocols.smtp.server import serve_smtp
from gatewayd.sd_notify import Notifier
from gatewayd.storage.writer import Writer

KEY = "shop-key-0123456789"
OTHER_KEY = "other-key-0123456789"
ADMIN_TOKEN = "admin-token-123"

BASE_CONFIG = """
database: {{url: "{url}"}}
http: {{listen: ["127.0.0.1:0"], max_body_bytes: 65536}}
admin: {{listen: ["127.0.0.1:0"], token: admin-token-123}}
carriers:
  - name: sim
    simulator: {{receipt_delay_s: 0}}
accounts:
  - name: acme
    blacklist: true
    numbers:
      - {{number: "8686", application: shop}}
      - {{number: "32470009999", application: other}}
    applications:
      - name: shop
        api_keys: ["{key}"]
        default_number: "8686"
        time_zone: Europe/Brussels
        max_parts: 3
      - name: other
        api_keys: ["{other}"]
        alphanumeric_sender: true
{extra}
"""


@dataclass
class Gateway:
    runtime: Runtime
    client: httpx.AsyncClient
    admin: httpx.AsyncClient
    simulator: Simulator | None
    """None when the carrier "sim" is a real SMSC (see `accounts_patch`)."""
    smtp_port: int = 0
    smpp_port: int = 0
    nursery: trio.Nursery | None = None

    async def wait_until(self, condition: Callable[[], object], timeout_s: float = 10) -> None:
        """Re-check `condition` after every commit, for at most `timeout_s` seconds."""
        with trio.fail_after(timeout_s):
            while True:
                result = condition()
                if hasattr(result, "__await__"):
                    result = await result
                if result:
                    return
                await self.runtime.writer.wait_commit()

    async def send(self, **fields) -> dict:
        response = await self.client.post("/sms/v1/Message", json={"apiKey": KEY, **fields})
        return response.json()

    async def status_of(self, message_id: str) -> dict:
        response = await self.client.get(
            "/sms/v1/StatusMessage", params={"apiKey": KEY, "messageId": message_id}
        )
        return response.json()


@pytest.fixture
def gateway_factory(nursery, database_url, tmp_path):
    async def start(extra: str = "", accounts_patch: Callable[[str], str] | None = None):
        text = BASE_CONFIG.format(url=database_url, key=KEY, other=OTHER_KEY, extra=extra)
        if accounts_patch:
            text = accounts_patch(text)
        config = parse_config(textwrap.dedent(text), environ={})
        engine = await trio.to_thread.run_sync(prepare_database, config.database)
        writer = Writer(engine)
        await nursery.start(writer.run)
        runtime = Runtime(
            ConfigHolder(Path(tmp_path / "unused.yaml"), config),
            engine,
            writer,
            Metrics(),
            Notifier({}),
            "test-node",
        )
        await _start_work(runtime, nursery, _build_work(runtime))
        addresses = await nursery.start(serve_api, runtime)
        client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{addresses[0][1]}", timeout=10)
        admin_addresses = await nursery.start(serve_admin, runtime)
        admin = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{admin_addresses[0][1]}",
            timeout=10,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        simulator = runtime.carriers.simulators.get("sim")
        with trio.fail_after(10):
            await runtime.carriers.carriers["sim"].wait_healthy()
        smtp_port = 0
        if config.smtp is not None:
            smtp_addresses = await nursery.start(serve_smtp, runtime)
            smtp_port = smtp_addresses[0][1]
        smpp_port = 0
        if runtime.smpp_door is not None:
            smpp_addresses = await nursery.start(runtime.smpp_door.serve)
            smpp_port = smpp_addresses[0][1]
        return Gateway(runtime, client, admin, simulator, smtp_port, smpp_port, nursery)

    return start


@pytest.fixture
async def gateway(gateway_factory):
    return await gateway_factory()
