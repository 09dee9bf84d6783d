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
in arrival order changes nothing a task can observe. A task with many items of one kind hands
them with `write_bulk_many`: one wait for all, each item answered as if alone, so one bad item
fails by itself.

When the storage fails for a reason that passes (disk full, connection lost, locked: see
`is_passing_failure`), the daemon slows down instead of stopping. A write made for someone
waiting for an answer (inside `answering_within`) fails at once with StorageUnavailable, and
one not started by its deadline is withdrawn (WriteNotStarted); nothing of either was stored,
so the front door answers with an error. Every other write (the daemon's own work: claims,
records of submits, receipts) is retried with a growing pause until the storage is back, so
a message the carrier accepted is recorded late rather than submitted again.

An operation that leaves work for a loop (jobs added to an outbox) calls `notify_after_commit`
with its Connection and a topic; once that transaction has committed, the writer calls, in
trio, every callback subscribed to the topic with `Writer.on_commit` (once per batch however
many operations notified). A transaction that failed notifies nothing.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import trio
from sqlalchemy import Connection, Engine

from gatewayd.storage.engine import WRITES, is_passing_failure

T = TypeVar("T")
Operation = Callable[[Connection], T]
log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.05
RETRY_MAX_S = 2.0
CLOSING_RETRY_S = 10.0
"""Once closed (the daemon stops), writes the storage refuses are retried this long at most."""

_TOPICS = "gatewayd.after_commit"
"""Key in Connection.info of the topics notified by the transaction under way."""

_answer_by: ContextVar[float | None] = ContextVar("answer_by", default=None)


@contextmanager
def answering_within(seconds: float) -> Iterator[None]:
    """The writes made inside are for someone waiting for an answer (an HTTP request, a
    carrier's deliver_sm): they must start within `seconds` and are never retried."""
    deadline = trio.current_time() + seconds
    outer = _answer_by.get()
    token = _answer_by.set(deadline if outer is None else min(outer, deadline))
    try:
        yield
    finally:
        _answer_by.reset(token)


def answer_time_left() -> float | None:
    """Seconds left to start the writes of the `answering_within` in force (None outside one),
    for a call that takes the deadline to another process."""
    deadline = _answer_by.get()
    return None if deadline is None else max(0.0, deadline - trio.current_time())


def notify_after_commit(connection: Connection, topic: str) -> None:
    """Once the transaction `connection` is in has committed, call the writer's callbacks
    subscribed to `topic`."""
    connection.info.setdefault(_TOPICS, set()).add(topic)


class StorageUnavailable(Exception):
    """The storage refused the write for a reason that passes (disk full, connection lost,
    locked); nothing of it was stored."""


class WriteNotStarted(StorageUnavailable):
    """The write had not started by its deadline and was withdrawn; nothing was stored."""


def _not_started() -> WriteNotStarted:
    return WriteNotStarted("the database did not take the write in time")


PEER_WRITE_TIMEOUT_S = 5.0
"""How long the write of an SMPP peer's or a mail server's request (a carrier's deliver_sm, an
ESME's submit_sm, a mail) may wait to start: well inside the peer's response timeout, so it
gets a temporary error it retries on rather than no answer."""


def is_storage_failure(error: BaseException) -> bool:
    """A write (or read) the storage refused for a reason that passes: nothing was stored,
    and the same request succeeds once the storage is back."""
    return isinstance(error, StorageUnavailable) or is_passing_failure(error)


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
    answer_by: float | None = None
    """Set for a write someone waits on: see `answering_within`."""
    started: bool = False
    withdrawn: bool = False
    retry: bool = False
    """The last attempt failed for a passing reason and the write is to be tried again."""


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
        self.storage_failures = 0
        """Attempts refused for a passing reason (disk full, connection lost...), for metrics."""
        self._outage = False
        self._give_up_at = float("inf")
        self._subscribers: dict[str, list[Callable[[], None]]] = {}
        self._notified: set[str] = set()
        """Topics notified by transactions committed in the writer thread, not yet called."""

    def on_commit(self, topic: str, callback: Callable[[], None]) -> None:
        """Call `callback` (in trio, soon after) whenever a transaction that notified
        `topic` has committed."""
        self._subscribers.setdefault(topic, []).append(callback)

    async def write(self, operation: Operation[T]) -> T:
        """Run `operation` in a transaction; return its result once that has committed."""
        return await self._submit(_Pending(operation))

    async def write_bulk(self, bulk: BulkOperation, item: Any) -> Any:
        """Write `item` with every other item of `bulk` in the same batch; its result."""
        return await self._submit(_Pending(None, bulk, item))

    async def write_bulk_many(self, bulk: BulkOperation, items: list[Any]) -> list[Any]:
        """Write each of `items` as `write_bulk` would, under one wait: each item's result,
        or the exception it failed with (one bad item fails alone: a failed batch is retried
        one write per transaction). Raises WriterClosed if none could be queued."""
        answer_by = _answer_by.get()
        pendings = [_Pending(None, bulk, item, answer_by=answer_by) for item in items]
        deadline = float("inf") if answer_by is None else answer_by
        queued = 0
        closed = False
        with trio.CancelScope(deadline=deadline):
            for pending in pendings:
                if not await self._queue(pending):
                    closed = True
                    break
                queued += 1
            if closed and not queued:
                raise WriterClosed()
            for pending in pendings[:queued]:
                await pending.done.wait()
        for pending in pendings[queued:]:
            pending.error = WriterClosed() if closed else _not_started()
        for pending in pendings[:queued]:
            if pending.started:
                await pending.done.wait()
            else:
                pending.withdrawn = True
                pending.error = _not_started()
        return [pending.result if pending.error is None else pending.error for pending in pendings]

    async def _queue(self, pending: _Pending) -> bool:
        """Queue `pending`, without a checkpoint while the queue has room (so that the items
        of one call go in one batch); False once the writer is closed."""
        try:
            try:
                self._send.send_nowait(pending)
            except trio.WouldBlock:
                await self._send.send(pending)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            return False
        return True

    async def _submit(self, pending: _Pending) -> Any:
        pending.answer_by = _answer_by.get()
        deadline = float("inf") if pending.answer_by is None else pending.answer_by
        with trio.CancelScope(deadline=deadline) as scope:
            try:
                await self._send.send(pending)
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                raise WriterClosed() from None
            await pending.done.wait()
        if scope.cancelled_caught:
            if not pending.started:
                pending.withdrawn = True
                raise _not_started()
            await pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return pending.result

    async def wait_commit(self) -> None:
        """Return after the next batch is written (tests and tools wait on state changes)."""
        await self._committed.wait()

    def close(self) -> None:
        """Accept nothing more; `run` returns once what is queued is written (or, while the
        storage refuses writes, given up after CLOSING_RETRY_S)."""
        self._give_up_at = trio.current_time() + CLOSING_RETRY_S
        self._send.close()

    @property
    def queued(self) -> int:
        return self._receive.statistics().current_buffer_used

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async with self._receive:
            while True:
                try:
                    batch = await self._next_batch()
                except trio.EndOfChannel:
                    return
                pause = RETRY_FIRST_S
                while batch:
                    with trio.CancelScope(shield=True):
                        await trio.to_thread.run_sync(self._commit, batch)
                    self._call_subscribers()
                    for pending in batch:
                        if not pending.retry:
                            pending.done.set()
                    self._committed.set()
                    self._committed = trio.Event()
                    batch = [pending for pending in batch if pending.retry]
                    if batch and trio.current_time() > self._give_up_at:
                        log.error("stopping: %d writes the storage refused are lost", len(batch))
                        for pending in batch:
                            pending.error = StorageUnavailable("the writer stopped")
                            pending.done.set()
                        batch = []
                    if batch:
                        with trio.CancelScope(shield=True):
                            await trio.sleep(pause)
                        pause = min(pause * 2, RETRY_MAX_S)
                        # Writes queued meanwhile go with the retry: those someone waits
                        # for are answered now rather than at their deadline.
                        batch += self._queued_now(self._max_batch - len(batch))

    def _call_subscribers(self) -> None:
        notified, self._notified = self._notified, set()
        for topic in notified:
            for callback in self._subscribers.get(topic, ()):
                try:
                    callback()
                except Exception:  # a subscriber's bug must not end the writer
                    log.exception("after-commit callback for %s failed", topic)

    async def _next_batch(self) -> list[_Pending]:
        """The queued writes (at most max_batch) not withdrawn, each marked started."""
        batch: list[_Pending] = []
        while not batch:
            first = await self._receive.receive()
            first.started = True
            batch = [first] if not first.withdrawn else []
            batch += self._queued_now(self._max_batch - len(batch))
        return batch

    def _queued_now(self, limit: int) -> list[_Pending]:
        """Up to `limit` writes queued now and not withdrawn, each marked started."""
        taken: list[_Pending] = []
        while len(taken) < limit:
            try:
                pending = self._receive.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                break
            if not pending.withdrawn:
                pending.started = True
                taken.append(pending)
        return taken

    def _commit(self, batch: list[_Pending]) -> None:
        self.batches += 1
        self.operations += len(batch)
        for pending in batch:
            pending.retry = False
        try:
            with self._engine.begin() as connection:
                connection.info.pop(_TOPICS, None)
                results = _run_grouped(connection, batch)
                topics = connection.info.pop(_TOPICS, ())
        except Exception as error:
            if is_passing_failure(error):
                self._storage_failed(batch, error)
                return
            if len(batch) == 1:
                batch[0].error = error
                return
            log.warning("a batch of %d writes failed; retrying them one by one", len(batch))
            for pending in batch:
                self._commit_alone(pending)
            return
        for pending, result in results.items():
            pending.result = result
        self._notified.update(topics)
        self._storage_back()

    def _commit_alone(self, pending: _Pending) -> None:
        try:
            with self._engine.begin() as connection:
                connection.info.pop(_TOPICS, None)
                pending.result = _run_grouped(connection, [pending])[pending]
                topics = connection.info.pop(_TOPICS, ())
        except Exception as error:
            if is_passing_failure(error):
                self._storage_failed([pending], error)
            else:
                pending.error = error
        else:
            self._notified.update(topics)
            self._storage_back()

    def _storage_failed(self, batch: list[_Pending], error: Exception) -> None:
        """Fail at once the writes someone waits on; mark the others to be tried again."""
        self.storage_failures += 1
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        if not self._outage:
            self._outage = True
            log.warning("storage unavailable (%s): slowing down, retrying", reason)
        for pending in batch:
            if pending.answer_by is not None:
                pending.error = StorageUnavailable(f"storage unavailable: {reason}")
            else:
                pending.retry = True

    def _storage_back(self) -> None:
        if self._outage:
            self._outage = False
            log.warning("storage available again: writes go on")


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
