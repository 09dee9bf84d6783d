"""Time windows: when an application may send, in its own time zone (DST included).

A window whose end is earlier than its start runs past midnight: the days list names the
day it starts on.
"""

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from gatewayd.config.schema import TimeWindowConfig

_DAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def within_windows(windows: Sequence[TimeWindowConfig], zone: ZoneInfo, at: datetime) -> bool:
    """True when `at` (aware) falls in a window; no windows means always open."""
    if not windows:
        return True
    local = at.astimezone(zone)
    today, now = _DAY_NAMES[local.weekday()], local.time()
    yesterday = _DAY_NAMES[(local - timedelta(days=1)).weekday()]
    for window in windows:
        if window.start < window.end:
            if (
                today in window.days
                and window.start <= now
                and (now < window.end or window.end == time.max)
            ):
                return True
        else:
            if today in window.days and now >= window.start:
                return True
            if yesterday in window.days and now < window.end:
                return True
    return False
