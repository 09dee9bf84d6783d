"""The daemon's wall clock, one object shared by every part, so tests can move time for all
of them at once (schedules, validity, webhook retries) instead of sleeping."""

from datetime import UTC, datetime, timedelta


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
