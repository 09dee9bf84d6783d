"""An SMSC on a raw socket, for tests that look at the wire: it counts the reads that carried
submit_sm, answers each submit_sm with the status given for its destination (ESME_ROK
otherwise), and sends the answers to one read in one write."""

from dataclasses import dataclass, field

import trio

from gatewayd.protocols.smpp import codec


@dataclass
class RawSmsc:
    statuses: dict[str, int] = field(default_factory=dict)
    """destination_addr → command_status of its submit_sm_resp."""
    submits: list[codec.Pdu] = field(default_factory=list)
    submit_reads: list[int] = field(default_factory=list)
    """How many submit_sm each read that carried any held."""
    most_outstanding: int = 0
    """The most submit_sm received and not answered yet, seen at any read."""
    changed: trio.Event = field(default_factory=trio.Event)
    vanish_after: int | None = None
    """A command_status after whose answer the SMSC goes away for good: its connections
    closed, its port no longer listening."""
    vanish_delay_s: float = 0.0
    """How long the SMSC sits on the answer it vanishes after, before sending it."""
    _gone: trio.CancelScope = field(default_factory=trio.CancelScope)

    async def serve(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        task_status.started(listeners[0].socket.getsockname()[1])
        with self._gone:
            await trio.serve_listeners(self._handle, listeners)
        for listener in listeners:
            await listener.aclose()

    async def wait_for(self, submits: int, timeout_s: float = 10.0) -> None:
        with trio.fail_after(timeout_s):
            while len(self.submits) < submits:
                await self.changed.wait()

    async def _handle(self, stream: trio.SocketStream) -> None:
        buffer = bytearray()
        async with stream:
            while data := await stream.receive_some(65_536):
                buffer += data
                answers = bytearray()
                submits = 0
                while len(buffer) >= codec.HEADER_SIZE:
                    length = codec.frame_length(bytes(buffer[: codec.HEADER_SIZE]))
                    if len(buffer) < length:
                        break
                    pdu = codec.decode(bytes(buffer[:length]))
                    del buffer[:length]
                    if pdu.command == "submit_sm":
                        submits += 1
                        self.submits.append(pdu)
                        self.most_outstanding = max(self.most_outstanding, submits)
                    answers += self._answer(pdu, len(self.submits))
                if submits:
                    self.submit_reads.append(submits)
                    self.changed.set()
                    self.changed = trio.Event()
                vanishing = self.vanish_after is not None and any(
                    self.statuses.get(pdu.text("destination_addr")) == self.vanish_after
                    for pdu in self.submits
                )
                if vanishing:
                    await trio.sleep(self.vanish_delay_s)
                await stream.send_all(bytes(answers))
                if vanishing:
                    self._gone.cancel()
                    return

    def _answer(self, pdu: codec.Pdu, number: int) -> bytes:
        if pdu.command.startswith("bind_"):
            return codec.encode(pdu.command + "_resp", pdu.sequence, system_id="raw")
        if pdu.command == "submit_sm":
            status = self.statuses.get(pdu.text("destination_addr"), codec.ESME_ROK)
            if status != codec.ESME_ROK:
                return codec.encode_error_response("submit_sm", pdu.sequence, status)
            return codec.encode("submit_sm_resp", pdu.sequence, message_id=f"raw{number}")
        if pdu.command == "unbind":
            return codec.encode("unbind_resp", pdu.sequence)
        return codec.encode(pdu.command + "_resp", pdu.sequence)
