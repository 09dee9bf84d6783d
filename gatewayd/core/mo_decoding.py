"""Reading mobile-originated user data: data_coding, UDH concatenation headers, SAR TLVs."""

from dataclasses import dataclass

from gatewayd.core.gsm import BASIC, ESCAPE, EXTENSION_CHAR

ESM_UDHI = 0x40


@dataclass(frozen=True)
class Concat:
    """Where a fragment belongs: (reference, total, seq); reference may be 8 or 16 bits."""

    reference: int
    total: int
    seq: int


def split_udh(short_message: bytes) -> tuple[Concat | None, bytes]:
    """(concatenation info if the UDH has one, the user data after the UDH)."""
    if not short_message:
        return None, b""
    length = short_message[0]
    header, payload = short_message[1 : 1 + length], short_message[1 + length :]
    if len(header) < length:
        return None, short_message
    concat = None
    position = 0
    while position + 2 <= len(header):
        element, size = header[position], header[position + 1]
        value = header[position + 2 : position + 2 + size]
        if element == 0x00 and size == 3 and len(value) == 3:
            concat = Concat(value[0], value[1], value[2])
        elif element == 0x08 and size == 4 and len(value) == 4:
            concat = Concat(int.from_bytes(value[:2], "big"), value[2], value[3])
        position += 2 + size
    if concat is not None and not (1 <= concat.seq <= concat.total):
        concat = None
    return concat, payload


def concat_from_sar(tlvs: dict) -> Concat | None:
    try:
        concat = Concat(
            int(tlvs["sar_msg_ref_num"]),
            int(tlvs["sar_total_segments"]),
            int(tlvs["sar_segment_seqnum"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
    return concat if 1 <= concat.seq <= concat.total else None


def decode_user_data(data_coding: int, data: bytes) -> str:
    """The text of a whole (reassembled) message's user data. Never raises."""
    if data_coding in (0x08, 0x18) or data_coding & 0xFC == 0x48:
        return data.decode("utf-16-be", errors="replace")
    if data_coding == 0x01:
        return data.decode("ascii", errors="replace")
    if data_coding in (0x03, 0x04, 0x02):
        return data.decode("latin-1")
    if data_coding & 0xF0 == 0xF0:
        return decode_gsm(data) if not data_coding & 0x04 else data.decode("latin-1")
    return decode_gsm(data)


def decode_gsm(data: bytes) -> str:
    """Unpacked GSM septets, one per octet. Carriers that send Latin-1 under data_coding 0
    betray themselves with octets above 0x7F; those are read as Latin-1."""
    if any(octet > 0x7F for octet in data):
        return data.decode("latin-1")
    chars: list[str] = []
    escaped = False
    for octet in data:
        if escaped:
            chars.append(EXTENSION_CHAR.get(octet, BASIC[octet] if octet != ESCAPE else " "))
            escaped = False
        elif octet == ESCAPE:
            escaped = True
        else:
            chars.append(BASIC[octet])
    return "".join(chars)
