"""SMPP 3.4 PDUs on the wire, encoded and decoded with smpplib's PDU classes (the PDUs
every message crosses take `fast_path` first, which gives the same results faster).

smpplib raises assorted exceptions on bad input (struct.error, IndexError, its own
UnknownCommandError…); `decode` turns every one of them into `PduError`, which carries what
the peer must be answered (a generic_nack status) and whether the byte stream can still be
trusted (framing).
"""

import struct
from dataclasses import dataclass
from typing import Any

from smpplib import command as smpp_command
from smpplib import command_codes
from smpplib import consts as smpp_consts

from gatewayd.protocols.smpp import fast_path

HEADER = struct.Struct(">LLLL")
HEADER_SIZE = 16
DEFAULT_MAX_PDU = 65_536

ESME_ROK = 0x00000000
ESME_RINVMSGLEN = 0x00000001
ESME_RINVCMDLEN = 0x00000002
ESME_RINVCMDID = 0x00000003
ESME_RINVBNDSTS = 0x00000004
ESME_RALYBND = 0x00000005
ESME_RSYSERR = 0x00000008
ESME_RINVSRCADR = 0x0000000A
ESME_RINVDSTADR = 0x0000000B
ESME_RINVMSGID = 0x0000000C
ESME_RBINDFAIL = 0x0000000D
ESME_RINVPASWD = 0x0000000E
ESME_RINVSYSID = 0x0000000F
ESME_RMSGQFUL = 0x00000014
ESME_RSUBMITFAIL = 0x00000045
ESME_RTHROTTLED = 0x00000058
ESME_RINVSCHED = 0x00000061
ESME_RINVEXPIRY = 0x00000062
ESME_RX_T_APPN = 0x00000064
ESME_RX_P_APPN = 0x00000065
ESME_RX_R_APPN = 0x00000066
ESME_RINVOPTPARSTREAM = 0x000000C0
ESME_RUNKNOWNERR = 0x000000FF

GENERIC_NACK = 0x80000000


class PduError(Exception):
    """A PDU that cannot be used. `fatal`: the stream's framing is lost; close after the nack."""

    def __init__(self, reason: str, status: int, sequence: int = 0, fatal: bool = False) -> None:
        super().__init__(reason)
        self.status = status
        self.sequence = sequence
        self.fatal = fatal


@dataclass(frozen=True, slots=True)
class Pdu:
    command: str
    status: int
    sequence: int
    fields: dict[str, Any]

    @property
    def is_response(self) -> bool:
        return self.command.endswith("_resp") or self.command == "generic_nack"

    def get(self, name: str, default: Any = None) -> Any:
        value = self.fields.get(name)
        return default if value is None else value

    def text(self, name: str) -> str:
        """A C-octet-string field as text ('' when absent)."""
        value = self.fields.get(name)
        if value is None:
            return ""
        if isinstance(value, bytes | bytearray):
            return bytes(value).rstrip(b"\0").decode("latin-1")
        return str(value)


def frame_length(header: bytes, max_pdu: int = DEFAULT_MAX_PDU) -> int:
    """The command_length of the PDU starting with these 16 bytes, checked."""
    length, _command_id, _status, sequence = HEADER.unpack_from(header)
    if length < HEADER_SIZE or length > max_pdu:
        raise PduError(f"command_length {length} out of range", ESME_RINVCMDLEN, sequence, True)
    return length


def decode(data: bytes) -> Pdu:
    """One whole PDU (header included) -> Pdu, or PduError."""
    if len(data) < HEADER_SIZE:
        raise PduError(f"{len(data)} bytes: shorter than a PDU header", ESME_RINVCMDLEN, 0, True)
    fast = fast_path.decode(data)
    return Pdu(*fast) if fast is not None else decode_with_smpplib(data)


def decode_with_smpplib(data: bytes) -> Pdu:
    """`decode` for every PDU the fast path leaves to smpplib."""
    _length, command_id, status, sequence = HEADER.unpack_from(data)
    try:
        name = command_codes.get_command_name(command_id)
    except Exception:
        raise PduError(f"unknown command_id 0x{command_id:08x}", ESME_RINVCMDID, sequence) from None
    try:
        pdu = smpp_command.factory(name, sequence=sequence, allow_unknown_opt_params=True)
        pdu.parse(bytes(data))
    except Exception as error:
        raise PduError(f"malformed {name}: {error!r}", _body_status(name), sequence) from None
    params = getattr(pdu, "params", {})
    fields = {key: getattr(pdu, key, None) for key in params}
    _check_sm_length(name, sequence, fields)
    return Pdu(name, status, sequence, {k: v for k, v in fields.items() if v is not None})


def _check_sm_length(name: str, sequence: int, fields: dict[str, Any]) -> None:
    """smpplib keeps whatever short_message the body had room for, even when sm_length
    announced more: such a message was cut, and must be refused rather than sent."""
    announced = fields.get("sm_length")
    if announced is None:
        return
    carried = len(fields.get("short_message") or b"")
    if announced != carried:
        raise PduError(
            f"malformed {name}: sm_length {announced} but short_message has {carried} octets",
            ESME_RINVMSGLEN,
            sequence,
        )


def _body_status(name: str) -> int:
    return ESME_RINVMSGLEN if name in ("submit_sm", "deliver_sm", "data_sm") else ESME_RSYSERR


def encode(command: str, sequence: int, status: int = ESME_ROK, **fields: Any) -> bytes:
    """A PDU as bytes. String fields take str; octet strings (short_message…) take bytes."""
    if command == "generic_nack":
        return HEADER.pack(HEADER_SIZE, GENERIC_NACK, status, sequence)
    fast = fast_path.encode(command, sequence, status, fields)
    return fast if fast is not None else encode_with_smpplib(command, sequence, status, fields)


def encode_with_smpplib(command: str, sequence: int, status: int, fields: dict[str, Any]) -> bytes:
    """`encode` for every PDU the fast path leaves to smpplib."""
    pdu = smpp_command.factory(command, sequence=sequence, status=status, **fields)
    pdu.sequence = sequence  # smpplib ignores the keyword when its dummy client has a sequence
    return pdu.generate()


def encode_error_response(command: str, sequence: int, status: int) -> bytes:
    """An error response: header only, as SMPP 3.4 says (no body when command_status != 0);
    a generic_nack when the request has no response of its own."""
    try:
        command_id = command_codes.get_command_code(command + "_resp")
    except Exception:
        command_id = GENERIC_NACK
    return HEADER.pack(HEADER_SIZE, command_id, status, sequence)


def status_name(status: int) -> str:
    """'ESME_RTHROTTLED (0x58): Throttling error' style text for logs and StatusDescription."""
    name = next(
        (
            key
            for key, value in vars(smpp_consts).items()
            if key.startswith("SMPP_ESME_") and value == status
        ),
        None,
    )
    description = smpp_consts.DESCRIPTIONS.get(status, "unknown error")
    label = name.removeprefix("SMPP_") if name else "ESME_UNKNOWN"
    return f"{label} (0x{status:x}): {description}"
