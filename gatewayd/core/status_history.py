"""The last hour of the running totals and levels the status page shows as rates and charts.

Every `every_s` seconds one sample is taken of counters the daemon keeps anyway (the
Prometheus metrics) and of levels measured cheaply (the webhook backlog): the hot path pays
nothing beyond the counter increments it already made. The samples are kept in a bounded
ring (one hour), so the memory is fixed whatever the traffic.
"""

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

import trio

log = logging.getLogger(__name__)

Key = tuple[str, str]
"""What a series counts and of what: ("submits", carrier), ("requests", listener)…"""

SAMPLE_EVERY_S = 5.0
SPAN_S = 3600.0


@dataclass(frozen=True)
class Sample:
    at: float
    """Wall-clock seconds."""
    totals: dict[Key, float]
    levels: dict[Key, float]


class StatusHistory:
    def __init__(
        self,
        read_totals: Callable[[], dict[Key, float]],
        read_levels: Callable[[], Awaitable[dict[Key, float]]],
        clock: Callable[[], datetime],
        every_s: float = SAMPLE_EVERY_S,
        span_s: float = SPAN_S,
    ) -> None:
        self._read_totals = read_totals
        self._read_levels = read_levels
        self._clock = clock
        self.every_s = every_s
        self.samples: deque[Sample] = deque(maxlen=int(span_s / every_s) + 1)

    async def run(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        await self.sample()
        task_status.started()
        while True:
            await trio.sleep(self.every_s)
            try:
                await self.sample()
            except Exception as error:  # the database away: levels come back with it
                log.warning("status sample not taken: %s", error)

    async def sample(self) -> Sample:
        """Take one sample now (also at start, so rates count from there)."""
        levels = await self._read_levels()
        taken = Sample(self._clock().timestamp(), self._read_totals(), levels)
        self.samples.append(taken)
        return taken

    def now(self) -> Sample:
        """The totals as they stand (the levels of the last sample): what rates end with."""
        levels = self.samples[-1].levels if self.samples else {}
        return Sample(self._clock().timestamp(), self._read_totals(), levels)

    def rate(self, current: Sample, key: Key, over_s: float) -> float:
        """Per second over the last `over_s` seconds (or since the oldest sample, if younger)."""
        start = self._sample_before(current.at - over_s)
        if start is None or current.at <= start.at:
            return 0.0
        counted = current.totals.get(key, 0.0) - start.totals.get(key, 0.0)
        return max(counted, 0.0) / (current.at - start.at)

    def _sample_before(self, moment: float) -> Sample | None:
        """The newest sample at or before `moment`, else the oldest one."""
        found = self.samples[0] if self.samples else None
        for sample in self.samples:
            if sample.at > moment:
                break
            found = sample
        return found

    def chart(self, keys: list[Key], current: Sample) -> dict:
        """The last hour for charts, up to `current`: sample times, and for each key the rate
        between consecutive samples (totals) or the level at each sample (levels). `current`
        ends it unless it follows the last sample too closely for a steady rate (a dip to
        zero just after every sample), when the samples alone give points."""
        samples = list(self.samples)
        if len(samples) < 2 or current.at - samples[-1].at >= self.every_s / 2:
            samples.append(current)
        series: dict[str, list[float]] = {}
        for key in keys:
            if any(key in sample.levels for sample in samples):
                series["/".join(key)] = [s.levels.get(key, 0.0) for s in samples[1:]]
            else:
                series["/".join(key)] = [
                    _between(before, after, key) for before, after in pairwise(samples)
                ]
        return {"times": [round(s.at, 3) for s in samples[1:]], "series": series}


def _between(before: Sample, after: Sample, key: Key) -> float:
    elapsed = after.at - before.at
    if elapsed <= 0:
        return 0.0
    counted = after.totals.get(key, 0.0) - before.totals.get(key, 0.0)
    return round(max(counted, 0.0) / elapsed, 3)
