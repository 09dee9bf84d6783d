"""Group commit: one task writes what many concurrent requests ask for, in few transactions.

A request hands an operation (a function of a SQLAlchemy Connection) to `Writer.write` and
is woken when the transaction holding it has committed, so "accepted" always means
"committed" while the cost of a commit (an fsync) is shared by every request in the batch.
If a batch fails, its operations are retried one per transaction so a single bad operation
fails alone.

Hot paths (accepting, recording submitted parts, applying receipts, webhook outcomes) hand
items of a `BulkOperation` instead: every item of one kind in a batch is written by one call,
with one executemany per statement, so a statement's cost is shared by the whole batch.
Operations in a batch come from different tasks, so running them grouped by kind instead of
in arrival order changes nothing a task can observe.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import trio
from sqlalchemy import Connection, Engine

from gatewayd.storage.engine import WRITES

T = TypeVar("T")
Operation = Callable[[Connection], T]
log = logging.getLogger(__name__)


class BulkOperation(Protocol):
    """One kind of write whose items are written together: one result per item, in order."""

    def run_bulk(self, connection: Connection, items: list[Any]) -> list[Any]: ...


@dataclass(eq=False)
class _Pending:
    operation: Operation[Any] | None
    bulk: BulkOperation | None = None
    item: Any = None
    done: trio.Event = field(default_factory=trio.Event)
    result: Any = None
    error: BaseException | None = None


class WriterClosed(Exception):
    """The writer has stopped; nothing more can be written through it."""


class Writer:
    def __init__(self, engine: Engine, max_batch: int = 500, queue_size: int = 10_000) -> None:
        self._engine = engine.execution_options(**{WRITES: True})
        self._max_batch = max_batch
        self._send, self._receive = trio.open_memory_channel[_Pending](queue_size)
        self.batches = 0
        self.operations = 0
        self._committed = trio.Event()

    async def write(self, operation: Operation[T]) -> T:
        """Run `operation` in a transaction; return its result once that has committed."""
        return await self._submit(_Pending(operation))

    async def write_bulk(self, bulk: BulkOperation, item: Any) -> Any:
        """Write `item` with every other item of `bulk` in the same batch; its result."""
        return await self._submit(_Pending(None, bulk, item))

    async def _submit(self, pending: _Pending) -> Any:
        try:
            await self._send.send(pending)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise WriterClosed() from None
        await pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return pending.result

    async def wait_commit(self) -> None:
        """Return after the next batch is written (tests and tools wait on state changes)."""
        await self._committed.wait()

    def close(self) -> None:
        """Accept nothing more; `run` returns once what is queued is written."""
        self._send.close()

    @property
    def queued(self) -> int:
        return self._receive.statistics().current_buffer_used

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async with self._receive:
            while True:
                try:
                    batch = [await self._receive.receive()]
                except trio.EndOfChannel:
                    return
                while len(batch) < self._max_batch:
                    try:
                        batch.append(self._receive.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(self._commit, batch)
                for pending in batch:
                    pending.done.set()
                self._committed.set()
                self._committed = trio.Event()

    def _commit(self, batch: list[_Pending]) -> None:
        self.batches += 1
        self.operations += len(batch)
        try:
            with self._engine.begin() as connection:
                results = _run_grouped(connection, batch)
        except Exception as error:
            if len(batch) == 1:
                batch[0].error = error
                return
            log.warning("a batch of %d writes failed; retrying them one by one", len(batch))
            for pending in batch:
                self._commit_alone(pending)
            return
        for pending, result in results.items():
            pending.result = result

    def _commit_alone(self, pending: _Pending) -> None:
        try:
            with self._engine.begin() as connection:
                pending.result = _run_grouped(connection, [pending])[pending]
        except Exception as error:
            pending.error = error


def _run_grouped(connection: Connection, batch: list[_Pending]) -> dict[_Pending, Any]:
    """Run plain operations one by one and each bulk kind once, in order of first arrival
    (a bulk kind with a true `first` attribute before all others)."""
    groups: dict[Any, list[_Pending]] = {}
    for pending in batch:
        groups.setdefault(pending.bulk if pending.bulk is not None else pending, []).append(pending)
    results: dict[_Pending, Any] = {}
    ordered = sorted(groups.items(), key=lambda group: not getattr(group[0], "first", False))
    for key, members in ordered:
        if isinstance(key, _Pending):
            assert key.operation is not None
            results[key] = key.operation(connection)
            continue
        outcomes = key.run_bulk(connection, [member.item for member in members])
        results.update(zip(members, outcomes, strict=True))
    return results
