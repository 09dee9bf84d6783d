"""Requests per minute for applications in debug mode (30/min), with the headers clients read."""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int

    def headers(self) -> list[tuple[str, str]]:
        headers = [
            ("X-Rate-Limit-Limit", str(self.limit)),
            ("X-Rate-Limit-Remaining", str(self.remaining)),
            ("X-Rate-Limit-Reset", str(self.reset_s)),
        ]
        if not self.allowed:
            headers.append(("Retry-After", str(self.reset_s)))
        return headers


class FixedWindowLimiter:
    """`limit` requests per key in each `period_s` window that starts at the key's first hit."""

    def __init__(self, limit: int, period_s: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.period_s = period_s
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, key: str) -> RateDecision:
        now = self._clock()
        started, count = self._windows.get(key, (now, 0))
        if now - started >= self.period_s:
            started, count = now, 0
        allowed = count < self.limit
        if allowed:
            count += 1
        self._windows[key] = (started, count)
        self._forget_old(now)
        reset = max(1, round(started + self.period_s - now))
        return RateDecision(allowed, self.limit, self.limit - count, reset)

    def peek(self, key: str) -> RateDecision:
        """Where `key` stands, without counting a request."""
        now = self._clock()
        started, count = self._windows.get(key, (now, 0))
        if now - started >= self.period_s:
            started, count = now, 0
        reset = max(1, round(started + self.period_s - now))
        return RateDecision(count < self.limit, self.limit, self.limit - count, reset)

    def _forget_old(self, now: float) -> None:
        if len(self._windows) > 10_000:
            self._windows = {
                key: value for key, value in self._windows.items() if now - value[0] < self.period_s
            }
