"""Times as the Message API takes and gives them, in the application's time zone."""

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

_API_FORMAT = re.compile(r"^(\d{1,2})-(\d{1,2})-(\d{4})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?$")


class BadTime(ValueError):
    pass


def parse_api_time(value: str, zone: ZoneInfo) -> datetime:
    """'dd-MM-yyyy HH:mm' (or ISO 8601) in `zone` -> an aware UTC datetime.

    ISO 8601 with an offset keeps its offset; without one it is local to `zone`. With
    zoneinfo's fold=0, a local time skipped by a DST change is moved forward by the gap
    (02:30 -> 03:30) and one that happens twice is taken at its first occurrence.
    """
    text = value.strip()
    match = _API_FORMAT.match(text)
    try:
        if match:
            day, month, year, hour, minute, second = match.groups()
            moment = datetime(
                int(year), int(month), int(day), int(hour), int(minute), int(second or 0)
            )
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadTime(f"{value!r} is not a time (dd-MM-yyyy HH:mm or ISO 8601)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 01-01-0001 00:00 east of UTC, 31-12-9999 23:59 west of it
        raise BadTime(f"{value!r} is out of range") from None


def format_api_time(moment: datetime | None, zone: ZoneInfo) -> str | None:
    """'yyyy-MM-dd HH:mm:ss' in `zone`: how RingRing's answers and webhooks carry times (its
    webhook article; the clients keep them as strings)."""
    if moment is None:
        return None
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
