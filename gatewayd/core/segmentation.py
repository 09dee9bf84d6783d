"""Splitting an encoded text into SMS parts and shaping each part for submit_sm.

Parts are cut between characters, never inside one, so an escape sequence (GSM extension
character) or a surrogate pair (UCS-2) always stays whole.
"""

from dataclasses import dataclass, field
from typing import Literal

from gatewayd.core.encoding import (
    GSM_MULTI,
    GSM_SINGLE,
    UCS2_MULTI,
    UCS2_SINGLE,
    Alphabet,
    EncodedText,
)

Concatenation = Literal["udh", "sar", "payload"]
ESM_UDHI = 0x40


@dataclass(frozen=True)
class PduPart:
    """The user-data fields of one submit_sm."""

    short_message: bytes
    esm_class: int = 0
    tlvs: dict[str, int | bytes] = field(default_factory=dict)


def _limits(alphabet: Alphabet) -> tuple[int, int]:
    """Octets per single part and per concatenated part."""
    if alphabet is Alphabet.GSM:
        return GSM_SINGLE, GSM_MULTI
    return UCS2_SINGLE * 2, UCS2_MULTI * 2


def split_payload(encoded: EncodedText) -> list[bytes]:
    single, multi = _limits(encoded.alphabet)
    if sum(len(unit) for unit in encoded.units) <= single:
        return [encoded.payload]
    parts: list[bytes] = []
    current = bytearray()
    for unit in encoded.units:
        if len(current) + len(unit) > multi:
            parts.append(bytes(current))
            current = bytearray()
        current += unit
    parts.append(bytes(current))
    return parts


def build_parts(encoded: EncodedText, method: Concatenation, reference: int) -> list[PduPart]:
    """The submit_sm user data for each part; `reference` (0-255) must stay the same on retry."""
    if method == "payload":
        return [PduPart(b"", 0, {"message_payload": encoded.payload})]
    payloads = split_payload(encoded)
    total = len(payloads)
    if total == 1:
        return [PduPart(payloads[0])]
    if total > 255:
        raise ValueError(f"{total} parts: at most 255 can be concatenated")
    if method == "udh":
        return [
            PduPart(bytes((5, 0, 3, reference & 0xFF, total, seq)) + payload, ESM_UDHI)
            for seq, payload in enumerate(payloads, start=1)
        ]
    return [
        PduPart(
            payload,
            0,
            {
                "sar_msg_ref_num": reference & 0xFFFF,
                "sar_total_segments": total,
                "sar_segment_seqnum": seq,
            },
        )
        for seq, payload in enumerate(payloads, start=1)
    ]
