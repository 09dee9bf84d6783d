"""A real simulator on a loopback port and a Carrier bound to it."""

import pytest
import trio

from gatewayd.protocols.smpp import codec
from gatewayd.protocols.smpp.client import Carrier, CarrierSettings
from gatewayd.protocols.smpp.simulator import Simulator, SimulatorSettings


class Inbox:
    """What the carrier handed to on_deliver, with a way to wait for it."""

    def __init__(self) -> None:
        self.pdus: list[codec.Pdu] = []
        self.changed = trio.Event()
        self.answer = codec.ESME_ROK

    async def on_deliver(self, carrier: str, pdu: codec.Pdu) -> int:
        self.pdus.append(pdu)
        self.changed.set()
        self.changed = trio.Event()
        return self.answer

    async def wait_for(self, count: int, timeout_s: float = 10.0) -> None:
        with trio.fail_after(timeout_s):
            while len(self.pdus) < count:
                await self.changed.wait()


@pytest.fixture
def start_smpp(nursery):
    """start_smpp(simulator_settings, **carrier_settings) -> (simulator, carrier, inbox)."""

    async def start(sim_settings: SimulatorSettings | None = None, **overrides):
        simulator = Simulator(sim_settings or SimulatorSettings(receipt_delay_s=0))
        host, port = await nursery.start(simulator.serve, "127.0.0.1", 0)
        inbox = Inbox()
        options = {"reconnect_min_s": 0.05, "reconnect_max_s": 0.2, "response_timeout_s": 2}
        settings = CarrierSettings(
            name="sim",
            host=host,
            port=port,
            system_id="gw",
            password="pw",
            **{**options, **overrides},
        )
        carrier = Carrier(settings, inbox.on_deliver)
        await nursery.start(carrier.run)
        with trio.fail_after(10):
            await carrier.wait_healthy()
        return simulator, carrier, inbox

    return start
