"""Jobs waiting per destination host, each host served by at most `per_host` tasks.

A task takes its host's jobs one after another and ends when none is left, so a burst to one
host costs `per_host` tasks rather than one per job, and a slow host holds up only its own.
"""

from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import trio

T = TypeVar("T")


class HostQueues(Generic[T]):
    def __init__(
        self, nursery: trio.Nursery, send: Callable[[T], Awaitable[None]], per_host: int
    ) -> None:
        """`send` must not raise: it handles its own failures."""
        self._nursery = nursery
        self._send = send
        self._per_host = max(1, per_host)
        self._queues: dict[str, deque[T]] = {}
        self._workers: dict[str, int] = {}
        self.tasks_started = 0

    def put(self, host: str, job: T) -> None:
        self._queues.setdefault(host, deque()).append(job)
        workers = self._workers.get(host, 0)
        if workers < self._per_host:
            self._workers[host] = workers + 1
            self.tasks_started += 1
            self._nursery.start_soon(self._work, host)

    async def _work(self, host: str) -> None:
        queue = self._queues[host]
        try:
            while queue:
                await self._send(queue.popleft())
        finally:
            self._workers[host] -= 1
            if not self._workers[host]:
                del self._workers[host]
                if not queue:
                    del self._queues[host]
