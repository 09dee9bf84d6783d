"""Message ids: GUIDs (8-4-4-4-12 lower-case hex), ordered by creation time (good index
locality), unguessable: the UUIDv7 layout of RFC 9562."""

import os
import re
import time

_GUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")


def new_message_id() -> str:
    """48 bits of milliseconds since the epoch, the version (7), the variant, 74 random bits."""
    random = int.from_bytes(os.urandom(10))
    value = (
        (time.time_ns() // 1_000_000 & (1 << 48) - 1) << 80
        | 0x7 << 76
        | (random >> 62 & 0xFFF) << 64
        | 0b10 << 62
        | random & (1 << 62) - 1
    )
    return as_guid(f"{value:032x}")


def as_guid(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"


def normalized_message_id(text: str) -> str | None:
    """A MessageId as a client may send it (with or without dashes, any case; the 32 hex
    digits gatewayd issued before GUIDs) -> the stored form; None if it is not one."""
    candidate = text.strip().lower()
    if not _GUID.fullmatch(candidate) or candidate.count("-") not in (0, 4):
        return None
    return as_guid(candidate.replace("-", ""))
