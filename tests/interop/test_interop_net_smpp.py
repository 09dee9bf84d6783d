"""Our ESME against an SMSC nobody here wrote: Net::SMPP (Debian's libnet-smpp-perl)."""

import shutil
import subprocess
from pathlib import Path

import pytest
import trio

from gatewayd.core.receipts import ReceiptState, parse_receipt
from gatewayd.core.statuses import Status
from gatewayd.protocols.smpp.client import Carrier, CarrierSettings, Outcome

SCRIPT = Path(__file__).with_name("perl_smsc.pl")


def _net_smpp_missing() -> str | None:
    if shutil.which("perl") is None:
        return "perl is not installed"
    probe = subprocess.run(["perl", "-MNet::SMPP", "-e", "1"], capture_output=True)
    return (
        "Net::SMPP is not installed (apt-get install libnet-smpp-perl)"
        if probe.returncode
        else None
    )


pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(_net_smpp_missing() is not None, reason=str(_net_smpp_missing())),
]


class PerlSmsc:
    """The Perl SMSC in a subprocess; its stdout lines are what it saw."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.changed = trio.Event()
        self.process: trio.Process | None = None

    async def start(self, nursery: trio.Nursery) -> int:
        self.process = await nursery.start(
            lambda task_status: trio.run_process(
                ["perl", str(SCRIPT)], stdout=subprocess.PIPE, check=False, task_status=task_status
            )
        )
        first = await self._next_line()
        assert first.startswith("PORT "), first
        nursery.start_soon(self._collect)
        return int(first.split()[1])

    async def _next_line(self) -> str:
        data = b""
        while not data.endswith(b"\n"):
            chunk = await self.process.stdout.receive_some(1)
            if not chunk:
                break
            data += chunk
        return data.decode().strip()

    async def _collect(self) -> None:
        while True:
            line = await self._next_line()
            if not line:
                return
            self.lines.append(line)
            self.changed.set()
            self.changed = trio.Event()

    async def wait_for(self, prefix: str) -> str:
        with trio.fail_after(10):
            while True:
                for line in self.lines:
                    if line.startswith(prefix):
                        return line
                await self.changed.wait()


async def test_our_binds_submit_to_net_smpp_and_take_its_receipts(nursery):
    smsc = PerlSmsc()
    port = await smsc.start(nursery)
    delivered: list = []
    got_receipt = trio.Event()

    async def on_deliver(carrier, pdu):
        delivered.append(parse_receipt(pdu.get("short_message"), pdu.fields))
        got_receipt.set()
        return 0

    carrier = Carrier(
        CarrierSettings(
            name="perl", host="127.0.0.1", port=port, system_id="gatewayd", password="pw"
        ),
        on_deliver,
    )
    async with trio.open_nursery() as binds:
        await binds.start(carrier.run)
        with trio.fail_after(10):
            await carrier.wait_healthy()
        assert (await smsc.wait_for("BIND")) == "BIND gatewayd"
        result = await carrier.submit(
            {
                "source_addr": "8686",
                "source_addr_ton": 3,
                "destination_addr": "32470000001",
                "dest_addr_ton": 1,
                "dest_addr_npi": 1,
                "registered_delivery": 1,
                "data_coding": 8,
                "short_message": "Grüße".encode("utf-16-be"),
            }
        )
        assert (result.outcome, result.message_id) == (Outcome.ACCEPTED, "perl-1")
        line = await smsc.wait_for("SUBMIT")
        assert line == f"SUBMIT 32470000001 {'Grüße'.encode('utf-16-be').hex()} 8 0"
        with trio.fail_after(10):
            await got_receipt.wait()
        assert delivered[0].message_id == "perl-1"
        assert delivered[0].state is ReceiptState.DELIVERED
        assert (await smsc.wait_for("RECEIPT_ACK")) == "RECEIPT_ACK 0"
        binds.cancel_scope.cancel()
    assert (await smsc.wait_for("UNBIND")) == "UNBIND", "a clean unbind on shutdown"


async def test_a_net_smpp_esme_binds_submits_and_gets_its_receipt_from_our_smsc(nursery):
    from gatewayd.protocols.smpp.simulator import Simulator, SimulatorSettings

    simulator = Simulator(SimulatorSettings(system_id="perl", password="secret", receipt_delay_s=0))
    _, port = await nursery.start(simulator.serve, "127.0.0.1", 0)
    with trio.fail_after(20):
        result = await trio.run_process(
            ["perl", str(SCRIPT.with_name("perl_esme.pl")), str(port), "perl", "secret"],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    lines = result.stdout.decode().splitlines()
    assert result.returncode == 0, result.stderr
    status, message_id = lines[0].split()[1:]
    assert status == "0" and message_id == simulator.submitted[0].message_id
    assert simulator.submitted[0].fields["short_message"] == b"hello from perl"
    assert lines[1].startswith(f"RECEIPT id:{message_id} ") and "stat:DELIVRD" in lines[1]
    assert lines[2] == "DONE"


async def test_a_net_smpp_esme_sends_through_gatewayd_and_gets_the_real_receipt(gateway_factory):
    def with_perl_app(text: str) -> str:
        return (
            text.replace(
                "        max_parts: 3",
                '        max_parts: 3\n        smpp: {system_id: perl, password: "secret"}',
            )
            + '\nsmpp_server: {listen: ["127.0.0.1:0"]}\n'
        )

    gateway = await gateway_factory(accounts_patch=with_perl_app)
    with trio.fail_after(30):
        result = await trio.run_process(
            [
                "perl",
                str(SCRIPT.with_name("perl_esme.pl")),
                str(gateway.smpp_port),
                "perl",
                "secret",
            ],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    lines = result.stdout.decode().splitlines()
    assert result.returncode == 0, result.stderr
    status, message_id = lines[0].split()[1:]
    assert status == "0" and len(message_id) == 36
    assert gateway.simulator.submitted[0].fields["short_message"] == b"hello from perl"
    assert lines[1].startswith(f"RECEIPT id:{message_id} ") and "stat:DELIVRD" in lines[1]
    assert (await gateway.status_of(message_id))["StatusCode"] == Status.DELIVERED.code
