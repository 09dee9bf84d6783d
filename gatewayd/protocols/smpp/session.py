"""The SMPP session as a state machine without I/O (in the manner of h11).

Bytes go in through `receive_data`, which returns events; PDUs to send accumulate and are
taken with `data_to_send`. The session frames and decodes PDUs, numbers requests, matches
responses to the requests they answer, keeps the bind state, answers enquire_link and
unbind itself, and answers what it cannot parse with generic_nack.
"""

from dataclasses import dataclass
from enum import Enum
from typing import Any

from gatewayd.protocols.smpp import codec
from gatewayd.protocols.smpp.codec import Pdu, PduError

BIND_COMMANDS = {"bind_transmitter": "tx", "bind_receiver": "rx", "bind_transceiver": "trx"}
_ALWAYS_ALLOWED = {"enquire_link", "unbind", "generic_nack", *BIND_COMMANDS}
MAX_SEQUENCE = 0x7FFFFFFF


class BindState(Enum):
    OPEN = "open"
    BOUND_TX = "tx"
    BOUND_RX = "rx"
    BOUND_TRX = "trx"
    CLOSED = "closed"

    @property
    def can_transmit(self) -> bool:
        return self in (BindState.BOUND_TX, BindState.BOUND_TRX)

    @property
    def can_receive(self) -> bool:
        return self in (BindState.BOUND_RX, BindState.BOUND_TRX)


@dataclass(frozen=True, slots=True)
class RequestReceived:
    pdu: Pdu


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    pdu: Pdu
    request_command: str
    context: Any


@dataclass(frozen=True, slots=True)
class UnmatchedResponse:
    pdu: Pdu


@dataclass(frozen=True, slots=True)
class BadPdu:
    error: PduError


@dataclass(frozen=True, slots=True)
class PeerUnbound:
    pass


Event = RequestReceived | ResponseReceived | UnmatchedResponse | BadPdu | PeerUnbound


class Session:
    def __init__(self, max_pdu: int = codec.DEFAULT_MAX_PDU) -> None:
        self.max_pdu = max_pdu
        self.state = BindState.OPEN
        self._buffer = bytearray()
        self._outgoing = bytearray()
        self._pending: dict[int, tuple[str, Any]] = {}
        self._next_sequence = 1
        self.broken = False

    @property
    def outstanding(self) -> int:
        return len(self._pending)

    @property
    def has_data_to_send(self) -> bool:
        return bool(self._outgoing)

    def data_to_send(self) -> bytes:
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def send_request(self, command: str, context: Any = None, **fields: Any) -> int:
        sequence = self._allocate_sequence()
        self._outgoing += codec.encode(command, sequence, **fields)
        self._pending[sequence] = (command, context)
        return sequence

    def send_response(self, request: Pdu, status: int = codec.ESME_ROK, **fields: Any) -> None:
        command = request.command + "_resp"
        if request.command in BIND_COMMANDS and status == codec.ESME_ROK:
            self.state = BindState(BIND_COMMANDS[request.command])
        if status != codec.ESME_ROK:
            self._answer_error(request, status)
            return
        self._outgoing += codec.encode(command, request.sequence, status, **fields)

    def take_pending(self) -> list[Any]:
        """The contexts of requests never answered (the connection is gone); forgets them."""
        contexts = [context for _, context in self._pending.values()]
        self._pending.clear()
        return contexts

    def forget(self, sequence: int) -> Any:
        """Stop waiting for the response to `sequence` (it timed out); its context."""
        entry = self._pending.pop(sequence, None)
        return entry[1] if entry else None

    def receive_data(self, data: bytes) -> list[Event]:
        if self.broken:
            return []
        self._buffer += data
        events: list[Event] = []
        while len(self._buffer) >= codec.HEADER_SIZE:
            try:
                length = codec.frame_length(self._buffer[: codec.HEADER_SIZE], self.max_pdu)
            except PduError as error:
                self._nack(error)
                self.broken = True
                self._buffer.clear()
                events.append(BadPdu(error))
                break
            if len(self._buffer) < length:
                break
            frame = bytes(self._buffer[:length])
            del self._buffer[:length]
            events.extend(self._handle_frame(frame))
        return events

    def _handle_frame(self, frame: bytes) -> list[Event]:
        try:
            pdu = codec.decode(frame)
        except PduError as error:
            self._nack(error)
            return [BadPdu(error)]
        if pdu.is_response:
            return [self._match_response(pdu)]
        if pdu.command == "enquire_link":
            self._outgoing += codec.encode("enquire_link_resp", pdu.sequence)
            return []
        if pdu.command == "unbind":
            self._outgoing += codec.encode("unbind_resp", pdu.sequence)
            self.state = BindState.CLOSED
            return [PeerUnbound()]
        if pdu.command not in _ALWAYS_ALLOWED and self.state in (BindState.OPEN, BindState.CLOSED):
            self._answer_error(pdu, codec.ESME_RINVBNDSTS)
            return []
        return [RequestReceived(pdu)]

    def _match_response(self, pdu: Pdu) -> Event:
        entry = self._pending.pop(pdu.sequence, None)
        if entry is None:
            return UnmatchedResponse(pdu)
        command, context = entry
        if command in BIND_COMMANDS and pdu.status == codec.ESME_ROK:
            self.state = BindState(BIND_COMMANDS[command])
        if command == "unbind":
            self.state = BindState.CLOSED
        return ResponseReceived(pdu, command, context)

    def _answer_error(self, pdu: Pdu, status: int) -> None:
        self._outgoing += codec.encode_error_response(pdu.command, pdu.sequence, status)

    def _nack(self, error: PduError) -> None:
        self._outgoing += codec.encode("generic_nack", error.sequence, error.status)

    def _allocate_sequence(self) -> int:
        sequence = self._next_sequence
        self._next_sequence = 1 if sequence >= MAX_SEQUENCE else sequence + 1
        while self._next_sequence in self._pending:
            self._next_sequence += 1
        return sequence
