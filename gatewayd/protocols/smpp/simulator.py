"""An SMSC simulator: an honest SMPP server for the demo, the tests and the benchmarks.

It binds ESMEs, answers submit_sm with message ids, sends delivery receipts (text and TLVs)
after a delay with a configurable mix of outcomes, and on demand throttles, drops
connections, never answers, uses hex ids, or injects mobile-originated messages.
"""

import logging
import random
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime

import trio

from gatewayd.protocols.smpp import codec
from gatewayd.protocols.smpp.codec import Pdu
from gatewayd.protocols.smpp.connection import ConnectionLost, ResponseTimeout, SmppConnection
from gatewayd.protocols.smpp.session import Session

RECEIPT_RETRY_S = 0.5
"""After a temporary error (ESME_RX_T_APPN), a receipt is sent again this much later."""

log = logging.getLogger(__name__)


@dataclass
class SimulatorSettings:
    system_id: str | None = None
    """Accept only this system_id (and `password`); None accepts any credentials."""
    password: str | None = None
    receipt_delay_s: float = 0.5
    delivered_ratio: float = 1.0
    hex_ids: bool = False
    upper_case_ids: bool = False
    receipts: bool = True
    throttle_every: int = 0
    """Answer every Nth submit_sm with ESME_RTHROTTLED (0 = never)."""
    drop_every: int = 0
    """Close the connection after every Nth submit_sm, unanswered (0 = never)."""
    silent: bool = False
    """Never answer submit_sm (response-timeout tests)."""
    answer_delay_s: float = 0.0
    """Answer submit_sm this late (a slow SMSC)."""
    receipt_before_response: bool = False
    """Send the receipt, acknowledged, before answering its submit_sm (the receipt overtakes
    the submit_sm_resp)."""
    first_id: int | None = None
    """The first message id given; None starts at a random point."""
    id_cycle: int = 0
    """Give ids from `first_id` again after this many (a counter that wraps; 0 = never)."""
    seed: int | None = None


@dataclass(frozen=True)
class Submitted:
    message_id: str
    system_id: str
    fields: dict
    time: datetime


@dataclass(eq=False)
class _Client:
    connection: SmppConnection
    system_id: str = ""


@dataclass
class Simulator:
    settings: SimulatorSettings = field(default_factory=SimulatorSettings)
    submitted: list[Submitted] = field(default_factory=list)
    receipts_sent: int = 0
    receipts_refused: int = 0
    """deliver_sm of receipts answered with a temporary error (and sent again)."""
    binds: int = 0

    def __post_init__(self) -> None:
        self._random = random.Random(self.settings.seed)
        self._random_first_id = self._random.randrange(10_000, 1_000_000)
        self._ids_given = 0
        self._clients: list[_Client] = []
        self._submits = 0
        self._held_receipts: list[dict] = []
        self._nursery: trio.Nursery | None = None
        self.bound = trio.Event()
        self.changed = trio.Event()

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 2775,
        task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """Serve until cancelled; with `tls`, every connection is SMPP over TLS."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        address = listeners[0].socket.getsockname()[:2]
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started(address)
            log.info("SMSC simulator listening on %s:%d", *address)
            if tls is not None:
                listeners = [trio.SSLListener(listener, tls) for listener in listeners]
            await trio.serve_listeners(self._handle_stream, listeners, handler_nursery=nursery)

    async def inject_mo(
        self,
        source: str,
        destination: str,
        short_message: bytes,
        *,
        data_coding: int = 0,
        esm_class: int = 0,
        tlvs: dict | None = None,
    ) -> int:
        """Send a deliver_sm to a bound receiver; its deliver_sm_resp command_status."""
        client = self._receiver()
        if client is None:
            raise ConnectionLost("no receiver is bound to the simulator")
        response = await client.connection.request(
            "deliver_sm",
            source_addr=source,
            destination_addr=destination,
            source_addr_ton=1,
            source_addr_npi=1,
            esm_class=esm_class,
            data_coding=data_coding,
            short_message=short_message,
            **(tlvs or {}),
        )
        return response.status

    async def disconnect_all(self) -> None:
        for client in list(self._clients):
            await client.connection.close()

    def _receiver(self) -> _Client | None:
        receivers = [
            c
            for c in self._clients
            if c.connection.session.state.can_receive and not c.connection.closed
        ]
        return self._random.choice(receivers) if receivers else None

    async def _handle_stream(self, stream: trio.abc.Stream) -> None:
        session = Session()
        client = _Client(None)  # type: ignore[arg-type]
        connection = SmppConnection(
            stream,
            session,
            lambda pdu: self._on_request(client, pdu),
            name="simulator",
            enquire_link_s=60,
        )
        client.connection = connection
        self._clients.append(client)
        try:
            await connection.run()
        finally:
            self._clients.remove(client)
            self._notify()

    async def _on_request(self, client: _Client, pdu: Pdu) -> tuple[int, dict]:
        if pdu.command.startswith("bind_"):
            return self._bind(client, pdu)
        if pdu.command in ("submit_sm", "data_sm"):
            return await self._submit(client, pdu)
        return codec.ESME_RINVCMDID, {}

    def _bind(self, client: _Client, pdu: Pdu) -> tuple[int, dict]:
        wanted = self.settings.system_id
        if wanted is not None and (
            pdu.text("system_id") != wanted
            or pdu.text("password") != (self.settings.password or "")
        ):
            return codec.ESME_RBINDFAIL, {}
        client.system_id = pdu.text("system_id")
        self.binds += 1
        self.bound.set()
        if self._held_receipts and self._nursery is not None:
            self._nursery.start_soon(self._release_held_receipts)
        self._notify()
        return codec.ESME_ROK, {"system_id": "simulator"}

    async def _submit(self, client: _Client, pdu: Pdu) -> tuple[int, dict]:
        self._submits += 1
        settings = self.settings
        if settings.silent:
            await trio.sleep_forever()
        if settings.drop_every and self._submits % settings.drop_every == 0:
            await client.connection.close()
            await trio.sleep_forever()
        if settings.throttle_every and self._submits % settings.throttle_every == 0:
            return codec.ESME_RTHROTTLED, {}
        message_id = self._new_id()
        self.submitted.append(
            Submitted(message_id, client.system_id, dict(pdu.fields), datetime.now(UTC))
        )
        self._notify()
        if settings.receipts and pdu.get("registered_delivery", 0) & 0x03:
            if settings.receipt_before_response:
                await self._send_receipt(client, pdu, message_id)
            else:
                assert self._nursery is not None
                self._nursery.start_soon(self._send_receipt, client, pdu, message_id)
        if settings.answer_delay_s:
            await trio.sleep(settings.answer_delay_s)
        return codec.ESME_ROK, {"message_id": message_id}

    def _new_id(self) -> str:
        first, cycle = self.settings.first_id, self.settings.id_cycle
        number = (self._random_first_id if first is None else first) + (
            self._ids_given % cycle if cycle else self._ids_given
        )
        self._ids_given += 1
        if self.settings.hex_ids:
            text = format(number, "x")
            return text.upper() if self.settings.upper_case_ids else text
        return str(number)

    async def _send_receipt(self, client: _Client, pdu: Pdu, message_id: str) -> None:
        await trio.sleep(self.settings.receipt_delay_s)
        delivered = self._random.random() < self.settings.delivered_ratio
        stat, state, error = ("DELIVRD", 2, "000") if delivered else ("UNDELIV", 5, "001")
        now = datetime.now(UTC).strftime("%y%m%d%H%M")
        receipt_id = str(int(message_id, 16)) if self.settings.hex_ids else message_id
        text = (
            f"id:{receipt_id} sub:001 dlvrd:{'001' if delivered else '000'} submit date:{now} "
            f"done date:{now} stat:{stat} err:{error} text:"
        ).encode()
        fields = {
            "source_addr": pdu.text("destination_addr"),
            "source_addr_ton": 1,
            "source_addr_npi": 1,
            "destination_addr": pdu.text("source_addr"),
            "esm_class": 0x04,
            "short_message": text,
            "receipted_message_id": receipt_id,
            "message_state": state,
        }
        preferred = client if client.connection.session.state.can_receive else None
        await self._deliver_receipt(fields, preferred)

    async def _deliver_receipt(self, fields: dict, preferred: _Client | None = None) -> None:
        """Send a receipt until a receiver acknowledges it; like a real SMSC, one that was not
        acknowledged goes to another bound receiver, one answered with a temporary error is
        sent again a little later, and one is kept while no receiver is bound."""
        target = preferred if preferred and not preferred.connection.closed else self._receiver()
        while target is not None:
            try:
                response = await target.connection.request("deliver_sm", **fields)
            except (ConnectionLost, ResponseTimeout):
                target = self._receiver()
                continue
            if response.status == codec.ESME_RX_T_APPN:
                self.receipts_refused += 1
                await trio.sleep(RECEIPT_RETRY_S)
                target = self._receiver()
                continue
            self.receipts_sent += 1
            self._notify()
            return
        self._held_receipts.append(fields)

    async def _release_held_receipts(self) -> None:
        # Our bind_resp goes out after the bind handler returns: wait for the bind to be up.
        with trio.move_on_after(1):
            while self._receiver() is None:
                await trio.sleep(0.01)
        held, self._held_receipts = self._held_receipts, []
        for fields in held:
            await self._deliver_receipt(fields)

    def _notify(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    async def wait_until(self, condition, timeout_s: float = 10.0) -> None:
        """Wait (bounded) until `condition()` holds; re-checked whenever the simulator changes."""
        with trio.fail_after(timeout_s):
            while not condition():
                await self.changed.wait()
