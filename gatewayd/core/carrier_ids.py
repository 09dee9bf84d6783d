"""Matching the message id of a receipt with the id a carrier gave in submit_sm_resp.

Carriers differ: case, leading zeros, hex in submit_sm_resp but decimal in the receipt (and
the reverse). A submitted part is stored under one canonical key; a receipt is looked up
under a short list of candidate keys, best first. In `auto` mode the candidates are the id
itself, then its hex-to-decimal and decimal-to-hex readings; an id that matches as written
always wins over a converted reading.
"""

from typing import Literal

IdFormat = Literal["auto", "exact", "case_insensitive", "hex_to_dec", "dec_to_hex"]
_HEX = set("0123456789abcdef")


def _canonical(message_id: str) -> str:
    text = message_id.strip().lower()
    return text.lstrip("0") or ("0" if text else "")


def storage_key(carrier_id: str, mode: IdFormat) -> str:
    """The key a submitted part is stored under."""
    if mode == "exact":
        return carrier_id.strip()
    if mode == "hex_to_dec" and _is_hex(carrier_id):
        return str(int(carrier_id, 16))
    return _canonical(carrier_id)


def lookup_keys(receipt_id: str, mode: IdFormat) -> list[str]:
    """The keys to look a receipt's id up under, best first."""
    if mode == "exact":
        return [receipt_id.strip()]
    canonical = _canonical(receipt_id)
    if mode == "case_insensitive":
        return [canonical]
    if mode == "hex_to_dec":
        return [_canonical(receipt_id)]
    if mode == "dec_to_hex":
        return [str(int(canonical, 16))] if _is_hex(canonical) else [canonical]
    keys = [canonical]
    if canonical.isdigit():
        keys.append(format(int(canonical), "x"))
    if _is_hex(canonical):
        keys.append(str(int(canonical, 16)))
    return list(dict.fromkeys(keys))


def _is_hex(text: str) -> bool:
    text = text.strip().lower()
    return bool(text) and set(text) <= _HEX and len(text) <= 32
