"""Each application's cap on messages a second towards the carriers (`submit_max_tps`).

A claimed batch is admitted message by message, in claim order (priority, then age): what an
application's bucket has no token for waits in the queue, without an attempt counted, until
its bucket has refilled for it. Buckets hold one second's worth at most, are kept per node
(two nodes give an application twice its cap) and follow reloads.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gatewayd.core.directory import Directory


@dataclass
class _Bucket:
    rate: float
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        self.tokens = min(max(1.0, self.rate), self.tokens + (now - self.updated) * self.rate)
        self.updated = now


class Throughput:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def admit(self, directory: Directory, rows: Iterable[Any]) -> tuple[list[Any], list[Any]]:
        """`rows` split into those sent now and (row, seconds) for those that wait: each
        until its application's bucket will have a token for it, in claim order."""
        now = self._clock()
        admitted: list[Any] = []
        waiting: list[tuple[Any, float]] = []
        behind: dict[str, int] = {}
        for row in rows:
            bucket = self._bucket(directory, row.application, now)
            if bucket is None:
                admitted.append(row)
            elif bucket.tokens >= 1:
                bucket.tokens -= 1
                admitted.append(row)
            else:
                ahead = behind[row.application] = behind.get(row.application, 0) + 1
                waiting.append((row, (ahead - bucket.tokens) / bucket.rate))
        return admitted, waiting

    def _bucket(self, directory: Directory, application: str, now: float) -> _Bucket | None:
        app = directory.by_name.get(application)
        rate = app.config.submit_max_tps if app is not None else None
        if rate is None:
            self._buckets.pop(application, None)
            return None
        bucket = self._buckets.get(application)
        if bucket is None or bucket.rate != rate:
            bucket = self._buckets[application] = _Bucket(rate, max(1.0, rate), now)
        bucket.refill(now)
        return bucket
