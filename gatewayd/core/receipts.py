"""Delivery receipts, from TLVs (receipted_message_id, message_state, network_error_code) or
from the receipt text `id:… sub:… dlvrd:… submit date:… done date:… stat:… err:… text:…`."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from gatewayd.core.statuses import Status


class ReceiptState(StrEnum):
    ENROUTE = "ENROUTE"
    DELIVERED = "DELIVRD"
    EXPIRED = "EXPIRED"
    DELETED = "DELETED"
    UNDELIVERABLE = "UNDELIV"
    ACCEPTED = "ACCEPTD"
    UNKNOWN = "UNKNOWN"
    REJECTED = "REJECTD"


# SMPP 3.4 section 5.2.28, message_state values.
_TLV_STATES = {
    1: ReceiptState.ENROUTE,
    2: ReceiptState.DELIVERED,
    3: ReceiptState.EXPIRED,
    4: ReceiptState.DELETED,
    5: ReceiptState.UNDELIVERABLE,
    6: ReceiptState.ACCEPTED,
    7: ReceiptState.UNKNOWN,
    8: ReceiptState.REJECTED,
}
_TEXT_STATES = {state.value: state for state in ReceiptState} | {
    "DELIVERED": ReceiptState.DELIVERED,
    "UNDELIVERABLE": ReceiptState.UNDELIVERABLE,
    "ACCEPTED": ReceiptState.ACCEPTED,
    "REJECTED": ReceiptState.REJECTED,
}
STATUS_OF_STATE = {
    ReceiptState.DELIVERED: Status.DELIVERED,
    ReceiptState.EXPIRED: Status.EXPIRED,
    ReceiptState.DELETED: Status.UNDELIVERABLE,
    ReceiptState.UNDELIVERABLE: Status.UNDELIVERABLE,
    ReceiptState.UNKNOWN: Status.UNKNOWN,
    ReceiptState.REJECTED: Status.REJECTED,
}

_FIELD = re.compile(
    r"(?P<key>id|sub|dlvrd|submit date|done date|stat|err)\s*:\s*(?P<value>\S*)", re.IGNORECASE
)


@dataclass(frozen=True)
class Receipt:
    message_id: str
    state: ReceiptState
    error: str | None = None
    done: datetime | None = None

    @property
    def final(self) -> bool:
        return self.state in STATUS_OF_STATE

    @property
    def status(self) -> Status | None:
        return STATUS_OF_STATE.get(self.state)


def parse_receipt(text: bytes | str | None, tlvs: dict | None = None) -> Receipt | None:
    """The receipt carried by a deliver_sm, or None if it carries none. Never raises."""
    tlvs = tlvs or {}
    fields = _text_fields(text)
    message_id = _tlv_text(tlvs.get("receipted_message_id")) or fields.get("id")
    state = _TLV_STATES.get(_as_int(tlvs.get("message_state")))
    if state is None:
        state = _TEXT_STATES.get(fields.get("stat", "").upper())
    if not message_id or state is None:
        return None
    error = fields.get("err")
    network_error = tlvs.get("network_error_code")
    if isinstance(network_error, bytes | bytearray) and len(network_error) == 3:
        error = error or f"{network_error[0]}:{int.from_bytes(network_error[1:], 'big')}"
    return Receipt(message_id, state, error, _receipt_date(fields.get("done date")))


def _text_fields(text: bytes | str | None) -> dict[str, str]:
    if not text:
        return {}
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("latin-1")
    head = re.split(r"\btext\s*:", text, maxsplit=1, flags=re.IGNORECASE)[0]
    return {m["key"].lower(): m["value"] for m in _FIELD.finditer(head)}


def _tlv_text(value: object) -> str | None:
    if isinstance(value, bytes | bytearray):
        value = bytes(value).rstrip(b"\0").decode("latin-1")
    return str(value).strip() or None if value is not None else None


def _as_int(value: object) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _receipt_date(value: str | None) -> datetime | None:
    """YYMMDDhhmm or YYMMDDhhmmss, taken as UTC."""
    if not value or not value.isdigit() or len(value) not in (10, 12):
        return None
    try:
        return datetime.strptime(
            value, "%y%m%d%H%M%S" if len(value) == 12 else "%y%m%d%H%M"
        ).replace(tzinfo=UTC)
    except ValueError:
        return None
