"""Recipients as the API receives them: MSISDNs in international format without '+'."""

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

MAX_RECIPIENTS = 1000
MAX_ENTRY_CHARS = 32
"""Longer than any number written with spaces, dashes or a leading 00: such an entry is
refused before the cache, so that the cache's keys stay short."""
CACHED_ENTRIES = 4096
"""About 1 MiB (234 bytes an entry with its key, measured with tracemalloc)."""
_MSISDN = re.compile(r"^[0-9]{6,15}$")  # not \d: it takes any script's digits (١٢٣…)


@dataclass(frozen=True)
class Recipient:
    msisdn: str
    country: str | None
    problem: str | None = None

    @property
    def valid(self) -> bool:
        return self.problem is None


class TooManyRecipients(ValueError):
    pass


def split_recipients(value: str | list[str] | None) -> list[str]:
    """'32470000001, 32470000002' or a list -> the non-empty entries, in order."""
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    entries = [str(item).strip() for item in items]
    entries = [entry for entry in entries if entry]
    if len(entries) > MAX_RECIPIENTS:
        raise TooManyRecipients(f"at most {MAX_RECIPIENTS} recipients, got {len(entries)}")
    return entries


def check_recipient(entry: str) -> Recipient:
    """Normalize one entry ('+32 470…', '0032…' are forgiven) and check that it can exist."""
    if len(entry) > MAX_ENTRY_CHARS:
        return Recipient(entry, None, "not a phone number (6 to 15 digits)")
    return _check_short(entry)


@lru_cache(maxsize=CACHED_ENTRIES)
def _check_short(entry: str) -> Recipient:
    """Cached, bounded in entries and in their length: phonenumbers' checks cost about 65 µs
    and campaigns repeat numbers."""
    digits = re.sub(r"[\s\-().]", "", entry)
    if digits.startswith("+"):
        digits = digits[1:]
    elif digits.startswith("00"):
        digits = digits[2:]
    if not _MSISDN.match(digits):
        return Recipient(entry, None, "not a phone number (6 to 15 digits)")
    try:
        number = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return Recipient(digits, None, "not a phone number in international format")
    country = phonenumbers.region_code_for_number(number)
    if not phonenumbers.is_valid_number(number):
        return Recipient(digits, country, "not a valid phone number")
    return Recipient(digits, country)


def country_of(msisdn: str) -> str | None:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse("+" + msisdn))
    except phonenumbers.NumberParseException:
        return None
