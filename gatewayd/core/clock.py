"""The daemon's wall clock, one object shared by every part, so tests can move time for all
of them at once (schedules, validity, webhook retries) instead of sleeping."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import trio


class Clock:
    def __init__(self) -> None:
        self._fixed: datetime | None = None

    def __call__(self) -> datetime:
        return self._fixed if self._fixed is not None else datetime.now(UTC)

    def set(self, moment: datetime) -> None:
        """Stop the clock at `moment` (aware)."""
        self._fixed = moment

    def advance(self, by: timedelta) -> None:
        self._fixed = self() + by


def wall_times(clock: Callable[[], datetime]) -> Callable[[float | None], datetime | None]:
    """Turns trio.current_time() readings taken a moment ago (when a PDU went out, when its
    answer came; None: not taken) into `clock`'s time: the protocol layer keeps trio's clock,
    the core and storage the wall clock, which tests may stop or move."""
    wall, now = clock(), trio.current_time()
    return lambda moment: None if moment is None else wall - timedelta(seconds=now - moment)
