"""A token bucket: at most `rate` acquisitions per second, with bursts up to one second's worth."""

import trio


class TokenBucket:
    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self._tokens = self.capacity
        self._updated = trio.current_time()
        self._lock = trio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            now = trio.current_time()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            if self._tokens < 1:
                await trio.sleep((1 - self._tokens) / self.rate)
                self._tokens = 1
                self._updated = trio.current_time()
            self._tokens -= 1

    def tokens_available(self) -> float:
        now = trio.current_time()
        return min(self.capacity, self._tokens + (now - self._updated) * self.rate)
