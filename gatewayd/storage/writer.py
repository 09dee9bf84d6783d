"""Group commit in one thread: every write of the daemon goes through one connection and one
transaction per tick, so "accepted" means "committed" while a commit's cost (an fsync, the
pages it writes) is shared by everything that was due.

The writer thread owns one long-lived connection (its page cache stays warm; no pool
checkout, no thread hop per write). A tick takes everything queued (at most `max_batch`
items), runs it in one transaction, commits, and hands the results back to trio in one call
(`run_sync_soon`): one wake-up per tick each way, not per item.

Urgent writes (the default: an HTTP request, a carrier's deliver_sm, anything a peer waits
for) start a tick at once, or, within `commit_interval_s` of the last tick, when that time is
up (see `_gather`). The daemon's own work (`urgent=False`: claims, records of
submits, webhook outcomes, sweeps) waits up to `defer_s` for a tick that starts anyway, so at
low rates it rides along in a commit that was going to happen instead of paying one of its
own; under load every tick is full and nothing waits.

A request hands an operation (a function of a SQLAlchemy Connection) to `Writer.write` and is
woken once the transaction holding it has committed. Hot paths hand items of a
`BulkOperation` instead: every item of one kind in a tick is written by one call, with one
executemany per statement. Operations in a tick come from different tasks, so running them
grouped by kind instead of in arrival order changes nothing a task can observe. If a tick
fails, its items are retried one per transaction so a single bad one fails alone.

When the storage fails for a reason that passes (disk full, connection lost, locked: see
`is_passing_failure`), the daemon slows down instead of stopping. A write made for someone
waiting for an answer (inside `answering_within`) fails at once with StorageUnavailable, and
one not started by its deadline is withdrawn (WriteNotStarted); nothing of either was stored,
so the front door answers with an error. Every other write (the daemon's own work: claims,
records of submits, receipts) is retried with a growing pause until the storage is back, so
a message the carrier accepted is recorded late rather than submitted again.

An operation that leaves work for a loop calls `notify_after_commit` with its Connection and
a topic; once that transaction has committed, the writer calls, in trio, every callback
subscribed to the topic with `Writer.on_commit` (once per tick however many operations
notified). A transaction that failed notifies nothing.
"""

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import trio
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from gatewayd.storage.engine import WRITES, is_passing_failure

T = TypeVar("T")
Operation = Callable[[Connection], T]
log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.05
RETRY_MAX_S = 2.0
CLOSING_RETRY_S = 10.0
"""Once closed (the daemon stops), writes the storage refuses are retried this long at most."""
DEFER_S = 0.05
"""How long a write nobody waits for may wait for a tick that starts anyway."""

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


class _Waiter:
    """What the trio side waits on: one Event for any number of items (one call's)."""

    __slots__ = ("done", "left")

    def __init__(self, items: int) -> None:
        self.left = items
        self.done = trio.Event()


@dataclass(eq=False)
class _Pending:
    operation: Operation[Any] | None
    bulk: BulkOperation | None = None
    item: Any = None
    waiter: _Waiter | None = None
    result: Any = None
    error: BaseException | None = None
    answer_by: float | None = None
    """Set for a write someone waits on: see `answering_within`."""
    urgent: bool = True
    """Starts a tick soon (see `Writer._gather`); otherwise it may wait DEFER_S for one."""
    caller: int = 0
    """The trio task that queued it (its id): one whose last write was in the last tick."""
    started: bool = False
    withdrawn: bool = False
    retry: bool = False
    """The last attempt failed for a passing reason and the write is to be tried again."""
    finished: bool = field(default=False, repr=False)


class WriterClosed(Exception):
    """The writer has stopped; nothing more can be written through it."""


class Writer:
    def __init__(
        self,
        engine: Engine,
        max_batch: int = 500,
        queue_size: int = 10_000,
        defer_s: float = DEFER_S,
        commit_interval_s: float = 0.0,
    ) -> None:
        self._engine = engine.execution_options(**{WRITES: True})
        self._max_batch = max_batch
        self._queue_size = queue_size
        self._defer_s = defer_s
        self._commit_interval_s = commit_interval_s
        self._last_tick = float("-inf")
        """When the last tick started (time.monotonic): the next starts commit_interval_s on."""
        self._last_callers: set[int] = set()
        """The tasks whose urgent writes were in the last tick."""
        self._caller_waits = False
        """One of them queued an urgent write again: the next tick starts at once."""
        self._queue: deque[_Pending] = deque()
        self._lock = threading.Condition(threading.Lock())
        self._urgent = 0
        """Urgent items in the queue (under the lock): the thread does not defer while > 0."""
        self._closed = False
        self._room = trio.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._stopped = trio.Event()
        self._connection: Connection | None = None
        self._committing = False
        """The last transaction reached its COMMIT (a connection lost there leaves its
        outcome unknown, so it is not run again)."""
        self.batches = 0
        self.operations = 0
        self._committed = trio.Event()
        self.storage_failures = 0
        """Attempts refused for a passing reason (disk full, connection lost...), for metrics."""
        self._outage = False
        self._give_up_at = float("inf")
        self._subscribers: dict[str, list[Callable[[], None]]] = {}

    def on_commit(self, topic: str, callback: Callable[[], None]) -> None:
        """Call `callback` (in trio, soon after) whenever a transaction that notified
        `topic` has committed."""
        self._subscribers.setdefault(topic, []).append(callback)

    async def write(self, operation: Operation[T], *, urgent: bool = True) -> T:
        """Run `operation` in a transaction; return its result once that has committed.
        A write that is not `urgent` (the daemon's own work: claims, records, outcomes)
        waits up to DEFER_S for a tick that starts anyway."""
        return await self._submit(_Pending(operation, urgent=urgent))

    async def write_bulk(self, bulk: BulkOperation, item: Any, *, urgent: bool = True) -> Any:
        """Write `item` with every other item of `bulk` in the same tick; its result."""
        return await self._submit(_Pending(None, bulk, item, urgent=urgent))

    async def write_bulk_many(
        self, bulk: BulkOperation, items: list[Any], *, urgent: bool = True
    ) -> list[Any]:
        """Write each of `items` as `write_bulk` would, under one wait: each item's result,
        or the exception it failed with (one bad item fails alone: a failed tick is retried
        one write per transaction). Raises WriterClosed if none could be queued."""
        if not items:
            return []
        waiter = _Waiter(len(items))
        answer_by = _answer_by.get()
        pendings = [
            _Pending(None, bulk, item, waiter, answer_by=answer_by, urgent=urgent) for item in items
        ]
        await self._wait_for(pendings, waiter, answer_by)
        return [pending.result if pending.error is None else pending.error for pending in pendings]

    async def _submit(self, pending: _Pending) -> Any:
        pending.waiter = _Waiter(1)
        pending.answer_by = _answer_by.get()
        await self._wait_for([pending], pending.waiter, pending.answer_by)
        if pending.error is not None:
            raise pending.error
        return pending.result

    async def _wait_for(
        self, pendings: list[_Pending], waiter: _Waiter, answer_by: float | None
    ) -> None:
        """Queue `pendings` and wait until each is written, failed, or withdrawn at its
        deadline (those not started by then get WriteNotStarted)."""
        deadline = float("inf") if answer_by is None else answer_by
        with trio.CancelScope(deadline=deadline) as scope:
            while self._room_left() <= 0:
                await self._wait_room()
            self._enqueue(pendings)
            await waiter.done.wait()
        if scope.cancelled_caught and self._withdraw(pendings):
            await waiter.done.wait()

    def _room_left(self) -> int:
        if self._closed:
            raise WriterClosed()
        return self._queue_size - len(self._queue)

    async def _wait_room(self) -> None:
        self._room = trio.Event()
        await self._room.wait()

    def _enqueue(self, pendings: list[_Pending]) -> None:
        """Queue `pendings`, waking the thread only where that changes what it does: an
        empty queue, the first urgent item, a full batch (a wake-up costs both threads a
        GIL hand-off; deferrable writes mostly arrive while it defers or commits)."""
        urgent = sum(pending.urgent for pending in pendings)
        caller = id(trio.lowlevel.current_task())
        for pending in pendings:
            pending.caller = caller
        with self._lock:
            if self._closed:
                raise WriterClosed()
            wakes = not self._queue or (urgent and not self._urgent)
            if urgent and not self._caller_waits and caller in self._last_callers:
                self._caller_waits = wakes = True
            self._queue.extend(pendings)
            self._urgent += urgent
            if wakes or len(self._queue) >= self._max_batch:
                self._lock.notify()

    def _withdraw(self, pendings: list[_Pending]) -> bool:
        """Withdraw those of `pendings` the thread has not started (they fail with
        WriteNotStarted); True when some had started and must be waited for."""
        started = False
        withdrawn: list[_Pending] = []
        with self._lock:
            for pending in pendings:
                if pending.finished:
                    continue
                if pending.started:
                    started = True
                    continue
                pending.withdrawn = True
                pending.error = _not_started()
                withdrawn.append(pending)
                if pending.urgent:
                    self._urgent -= 1
        for pending in withdrawn:
            self._finish(pending)
        return started

    async def wait_commit(self) -> None:
        """Return after the next tick is written (tests and tools wait on state changes)."""
        await self._committed.wait()

    def close(self) -> None:
        """Accept nothing more; `run` returns once what is queued is written (or, while the
        storage refuses writes, given up after CLOSING_RETRY_S)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._give_up_at = time.monotonic() + CLOSING_RETRY_S
            self._lock.notify()
        self._room.set()

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the writer thread until `close()` and everything queued is written."""
        self._token = trio.lowlevel.current_trio_token()
        thread = threading.Thread(target=self._thread_main, name="gatewayd-writer", daemon=True)
        thread.start()
        task_status.started()
        try:
            await self._stopped.wait()
        finally:
            self.close()
            with trio.CancelScope(shield=True):
                await self._stopped.wait()

    # The writer thread.

    def _thread_main(self) -> None:
        assert self._token is not None
        try:
            self._loop()
        except BaseException:
            log.exception("the writer thread failed")
            raise
        finally:
            if self._connection is not None:
                try:
                    self._connection.close()
                except Exception:
                    log.warning("closing the writer's connection failed", exc_info=True)
                self._connection = None
            self._token.run_sync_soon(self._stopped.set)

    def _loop(self) -> None:
        assert self._token is not None
        retrying: list[_Pending] = []
        pause = RETRY_FIRST_S
        while True:
            batch = self._take(retrying, pause if retrying else None)
            if batch is None:
                return
            topics = self._commit(batch)
            retrying = [pending for pending in batch if pending.retry]
            if retrying and time.monotonic() > self._give_up_at:
                log.error("stopping: %d writes the storage refused are lost", len(retrying))
                for pending in retrying:
                    pending.retry = False
                    pending.error = StorageUnavailable("the writer stopped")
                retrying = []
            pause = min(pause * 2, RETRY_MAX_S) if retrying else RETRY_FIRST_S
            done = [pending for pending in batch if not pending.retry]
            self._token.run_sync_soon(self._completed, done, topics)

    def _take(self, retrying: list[_Pending], pause: float | None) -> list[_Pending] | None:
        """The next tick's items: `retrying` (after `pause`) and what is queued, taken as soon
        as something urgent is queued, DEFER_S after the first deferrable one, or at once
        once closed. None when closed and nothing is left."""
        with self._lock:
            if pause is not None:
                # Writes queued meanwhile go with the retry: those someone waits for are
                # answered then (with an error, or written) rather than at their deadline.
                until = time.monotonic() + pause
                while (left := until - time.monotonic()) > 0:
                    self._lock.wait(left)
            else:
                while not self._queue and not self._closed:
                    self._lock.wait()
                if not self._queue:
                    return None
                self._gather()
            self._last_tick = time.monotonic()
            self._last_callers = set()
            batch = retrying
            while self._queue and len(batch) < self._max_batch:
                pending = self._queue.popleft()
                if pending.withdrawn:
                    continue
                if pending.urgent:
                    self._urgent -= 1
                    self._last_callers.add(pending.caller)
                pending.started = True
                batch.append(pending)
            # Left over beyond a full batch: the next tick starts at once anyway.
            self._caller_waits = len(self._queue) < self._max_batch and any(
                pending.urgent and pending.caller in self._last_callers for pending in self._queue
            )
            if not batch and self._closed and not self._queue:
                return None
            return batch

    def _gather(self) -> None:
        """Under the lock, with something queued: wait while more may join the tick.

        A deferrable write waits up to DEFER_S for an urgent one. An urgent one waits until
        commit_interval_s after the last tick started, so that writes of other callers
        arriving meanwhile share its commit (at low rates, fewer commits for the same
        writes), unless its caller had a write in the last tick: a caller that writes one
        request after another (a client sending on one connection) is never slowed to one
        write per interval. A full batch or closing ends the wait."""
        now = time.monotonic()
        defer_until = now + self._defer_s
        urgent_until = max(now, self._last_tick + self._commit_interval_s)
        while not self._closed and len(self._queue) < self._max_batch:
            until = (now if self._caller_waits else urgent_until) if self._urgent else defer_until
            left = until - time.monotonic()
            if left <= 0:
                return
            self._lock.wait(left)

    def _commit(self, batch: list[_Pending]) -> set[str]:
        """Write `batch` in one transaction (each item alone if that fails); the topics the
        transactions that committed notified."""
        self.batches += 1
        self.operations += len(batch)
        for pending in batch:
            pending.retry = False
            pending.error = None
        try:
            results, topics = self._transaction(batch)
        except Exception as error:
            if is_passing_failure(error):
                self._storage_failed(batch, error)
                return set()
            if len(batch) == 1:
                batch[0].error = error
                return set()
            log.warning("a batch of %d writes failed; retrying them one by one", len(batch))
            notified: set[str] = set()
            for pending in batch:
                notified |= self._commit_alone(pending)
            return notified
        for pending, result in results.items():
            pending.result = result
        self._storage_back()
        return set(topics)

    def _commit_alone(self, pending: _Pending) -> set[str]:
        try:
            results, topics = self._transaction([pending])
        except Exception as error:
            if is_passing_failure(error):
                self._storage_failed([pending], error)
            else:
                pending.error = error
            return set()
        pending.result = results[pending]
        self._storage_back()
        return set(topics)

    def _transaction(self, batch: list[_Pending]) -> tuple[dict[_Pending, Any], Any]:
        """Run `batch` in one transaction on the writer's connection: (results, topics). A
        connection kept from an earlier tick that turns out dead before the commit (the
        server restarted, an operator ended it) is replaced and the batch run again once:
        nothing of it was stored (what pool_pre_ping does, without a ping per tick)."""
        reused = self._connection is not None
        try:
            return self._run_transaction(batch)
        except DBAPIError as error:
            lost_before_commit = error.connection_invalidated and not self._committing
            if not (reused and lost_before_commit and self._connection is None):
                raise
            log.info("the writer's connection was lost while idle; reconnecting")
            return self._run_transaction(batch)

    def _run_transaction(self, batch: list[_Pending]) -> tuple[dict[_Pending, Any], Any]:
        self._committing = False
        connection = self._connection
        if connection is None or connection.invalidated or connection.closed:
            if connection is not None:
                connection.close()
            self._connection = None
            connection = self._connection = self._engine.connect()
        transaction = connection.begin()
        connection.info.pop(_TOPICS, None)
        try:
            results = _run_grouped(connection, batch)
            topics = connection.info.pop(_TOPICS, ())
        except BaseException:
            self._roll_back(transaction)
            raise
        self._committing = True
        try:
            transaction.commit()
        except BaseException:
            self._roll_back(transaction)
            raise
        return results, topics

    def _roll_back(self, transaction: Any) -> None:
        """Roll back after a failure; a connection that cannot (the server went away) is
        dropped, and the next tick opens another."""
        try:
            # Also after a failed COMMIT (disk full): the transaction is inactive then, but
            # stays the connection's until rolled back.
            transaction.rollback()
            healthy = self._connection is not None and not self._connection.invalidated
        except Exception:
            log.debug("rollback failed; dropping the connection", exc_info=True)
            healthy = False
        if not healthy and self._connection is not None:
            try:
                self._connection.close()
            except Exception:
                log.debug("closing a broken connection failed", exc_info=True)
            self._connection = None

    def _storage_failed(self, batch: list[_Pending], error: Exception) -> None:
        """Fail at once the writes someone waits on; mark the others to be tried again."""
        self.storage_failures += 1
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        if not self._outage:
            self._outage = True
            log.warning("storage unavailable (%s): slowing down, retrying", reason)
        if self._connection is not None and self._connection.invalidated:
            self._connection.close()
            self._connection = None
        for pending in batch:
            if pending.answer_by is not None:
                pending.error = StorageUnavailable(f"storage unavailable: {reason}")
            else:
                pending.retry = True

    def _storage_back(self) -> None:
        if self._outage:
            self._outage = False
            log.warning("storage available again: writes go on")

    # Back in trio.

    def _completed(self, done: list[_Pending], topics: set[str]) -> None:
        """One tick's results: wake whoever waits and the subscribers of the topics
        notified."""
        self._call_subscribers(topics)
        for pending in done:
            self._finish(pending)
        self._committed.set()
        self._committed = trio.Event()
        if len(self._queue) < self._queue_size:
            self._room.set()

    def _finish(self, pending: _Pending) -> None:
        if pending.finished:
            return
        pending.finished = True
        waiter = pending.waiter
        if waiter is not None:
            waiter.left -= 1
            if waiter.left == 0:
                waiter.done.set()

    def _call_subscribers(self, topics: set[str]) -> None:
        for topic in topics:
            for callback in self._subscribers.get(topic, ()):
                try:
                    callback()
                except Exception:  # a subscriber's bug must not end the writer
                    log.exception("after-commit callback for %s failed", topic)


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
