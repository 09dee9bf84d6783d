"""Items handed over one by one and handled in batches: whatever piles up while one batch is
being handled (a write to storage) goes in the next."""

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import trio

T = TypeVar("T")


class Batches(Generic[T]):
    def __init__(self, handle: Callable[[list[T]], Awaitable[None]]) -> None:
        """`handle` must not raise: it handles its own failures."""
        self._handle = handle
        self._items: list[T] = []
        self._ready = trio.Event()
        self.handled = 0

    def add(self, item: T) -> None:
        self._items.append(item)
        self._ready.set()

    async def run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready = trio.Event()
            items, self._items = self._items, []
            self.handled += 1
            await self._handle(items)
