"""Binds to one carrier (gatewayd as ESME): kept up, windowed, rate-limited, reconnected.

`Carrier.submit_many` hands submit_sm PDUs to whichever binds have room and returns their
outcomes. The binds take them from one shared queue, each as many as its window has room
for, and send those in one write; the read loop hands each response to its PDU, and one
Event wakes the caller when the last of its PDUs is answered. So the window is respected
per bind and load spreads over the binds that are up. Throttling answers
(ESME_RTHROTTLED, ESME_RMSGQFUL) pause the bind and retry the PDU; a connection that dies
with submits in flight reports them as not acknowledged, so the caller re-queues them.
"""

import contextlib
import heapq
import itertools
import logging
import math
import random
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import trio

from gatewayd.protocols.smpp import codec
from gatewayd.protocols.smpp.codec import Pdu
from gatewayd.protocols.smpp.connection import (
    Answer,
    Batched,
    ConnectionLost,
    ResponseHandler,
    ResponseTimeout,
    SmppConnection,
)
from gatewayd.protocols.smpp.rate import TokenBucket
from gatewayd.protocols.smpp.session import Session

log = logging.getLogger(__name__)
DeliverHandler = Callable[[str, Pdu], Awaitable[int]]
DeliverBatchHandler = Callable[[str, list[Pdu]], Awaitable[list[int]]]
"""The deliver_sm (and data_sm) of one batch: a command_status for each, sent after it returns."""
DELIVER_COMMANDS = ("deliver_sm", "data_sm")
THROTTLE_STATUSES = {codec.ESME_RTHROTTLED, codec.ESME_RMSGQFUL}
MAX_THROTTLE_RETRIES = 5
LATE = "throttled, and too late to send it again before its claim ends"


class BindRefused(Exception):
    """The carrier answered our bind with an error (wrong credentials, too many binds…)."""


_LINK_ERRORS = (OSError, trio.BrokenResourceError, ConnectionLost, ResponseTimeout, BindRefused)


@dataclass(frozen=True)
class CarrierSettings:
    name: str
    host: str
    port: int
    system_id: str
    password: str = ""
    system_type: str = ""
    bind_mode: str = "transceiver"
    binds: int = 1
    window: int = 10
    max_tps: float | None = None
    tls: bool = False
    tls_verify: bool = True
    enquire_link_s: float = 30.0
    response_timeout_s: float = 10.0
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    queue_wait_s: float = 5.0
    """How long a submit waits for a bind with room before it is handed back."""


class Outcome(Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    """A permanent error: the message fails with the SMPP status."""
    RETRY = "retry"
    """Not sent, or sent but not acknowledged: submit again later."""


@dataclass(frozen=True)
class SubmitResult:
    outcome: Outcome
    message_id: str | None = None
    status: int = codec.ESME_ROK
    reason: str = ""
    sent_at: float | None = None
    """trio.current_time() when the accepted submit_sm (its last try) was queued for the
    write that sends it."""
    answered_at: float | None = None
    """trio.current_time() when its submit_sm_resp was read."""


class _Batch:
    """The submits of one `submit_many` call: one Event for all of them."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.done = trio.Event()

    def finished(self) -> None:
        self.left -= 1
        if self.left == 0:
            self.done.set()


@dataclass(eq=False)
class _Job:
    fields: dict[str, Any]
    batch: _Batch
    queued: bool = True
    """Still in the carrier's queue: no bind has taken it (it may be handed back)."""
    throttled: int = 0
    resend_until: float = math.inf
    """The trio time after which a throttled PDU is not sent again but handed back (RETRY):
    its sender's hold on it (a claim) would not outlast the submit."""
    result: SubmitResult | None = None

    def finish(self, result: SubmitResult) -> None:
        if self.result is None:
            self.result = result
            self.batch.finished()


class Slots:
    """A number of slots taken and given back many at a time (a Semaphore one at a time
    would cost a checkpoint per part). Waiters are served in order, the highest `rank`
    first, then first come: freed slots go to the waiter at the head, so no later taker
    overtakes it and a batch of high-priority messages waits for no batch of lower ones."""

    def __init__(self, total: int) -> None:
        self.free = total
        self._waiting: list[tuple[int, int, _SlotWaiter]] = []
        self._arrivals = itertools.count()

    async def take(self, wanted: int, rank: int = 0) -> int:
        """Up to `wanted` slots (at least one, waiting for one if none is free)."""
        waiter = _SlotWaiter(wanted)
        heapq.heappush(self._waiting, (-rank, next(self._arrivals), waiter))
        self._hand_out()
        if not waiter.given.is_set():
            try:
                await waiter.given.wait()
            except BaseException:
                waiter.gone = True
                self.give_back(waiter.count)
                raise
        return waiter.count

    def give_back(self, count: int) -> None:
        self.free += count
        self._hand_out()

    def _hand_out(self) -> None:
        while self.free and self._waiting:
            _, _, waiter = heapq.heappop(self._waiting)
            if waiter.gone:
                continue
            waiter.count = min(waiter.wanted, self.free)
            self.free -= waiter.count
            waiter.given.set()


@dataclass(eq=False)
class _SlotWaiter:
    wanted: int
    count: int = 0
    """Slots given to it (0 until it is served)."""
    gone: bool = False
    given: trio.Event = field(default_factory=trio.Event)


@dataclass
class BindStats:
    name: str = ""
    state: str = "down"
    since: float = field(default_factory=time.time)
    """When the bind came to its state (wall-clock seconds, for the status page)."""
    in_flight: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    stopped: bool = False
    """Stopped by an operator (`stop_bind`): unbound, and not bound again until started."""
    scope: trio.CancelScope | None = field(default=None, repr=False)
    started: trio.Event = field(default_factory=trio.Event, repr=False)


@dataclass(frozen=True)
class LastError:
    """The newest submit_sm refusal of a carrier (wall-clock seconds)."""

    text: str
    at: float


class Carrier:
    def __init__(
        self,
        settings: CarrierSettings,
        on_deliver: DeliverHandler,
        on_state_change: Callable[[], None] | None = None,
        on_deliver_batch: DeliverBatchHandler | None = None,
    ) -> None:
        self.settings = settings
        self._on_deliver = on_deliver
        self._on_deliver_batch = on_deliver_batch or self._each_alone
        self._on_state_change = on_state_change
        self._queue: deque[_Job] = deque()
        self._windows: list[_Window] = []
        self._tps = TokenBucket(settings.max_tps) if settings.max_tps else None
        self.binds: list[BindStats] = []
        self.status_counts: dict[int, int] = {}
        self.last_submit_error: LastError | None = None
        self._random = random.Random()
        self._state_changed = trio.Event()
        self.unrecorded = Slots(max(1, settings.window * settings.binds))
        """Held by a part from before its submit until its record has committed: so a crash
        leaves at most one window per bind sent but not recorded (sent again after restart)."""

    def healthy(self) -> bool:
        return any(b.state in ("tx", "trx") for b in self.binds)

    async def wait_healthy(self) -> None:
        while not self.healthy():
            await self._state_changed.wait()

    def _set_state(self, stats: BindStats, state: str) -> None:
        if stats.state != state:
            stats.since = time.time()
        stats.state = state
        self._state_changed.set()
        self._state_changed = trio.Event()
        if self._on_state_change is not None:
            self._on_state_change()

    @property
    def in_flight(self) -> int:
        return sum(b.in_flight for b in self.binds)

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        modes = ["trx"] if self.settings.bind_mode == "transceiver" else ["tx", "rx"]
        async with trio.open_nursery() as nursery:
            for number in range(self.settings.binds):
                for mode in modes:
                    stats = BindStats(name=f"{self.settings.name}#{number}{mode}")
                    self.binds.append(stats)
                    nursery.start_soon(self._keep_bound, stats.name, mode, stats)
            task_status.started()

    def stop_bind(self, index: int) -> bool:
        """Unbind the bind `index` and keep it down until `start_bind` (or a restart); False
        when it was stopped already. Its PDUs waiting for a response go back to the queue."""
        stats = self.binds[index]
        if stats.stopped:
            return False
        stats.stopped = True
        stats.started = trio.Event()
        if stats.scope is not None:
            stats.scope.cancel()
        return True

    def start_bind(self, index: int) -> bool:
        """Bind the stopped bind `index` again at once; False when it was not stopped."""
        stats = self.binds[index]
        if not stats.stopped:
            return False
        stats.stopped = False
        stats.started.set()
        return True

    async def submit(self, fields: dict[str, Any]) -> SubmitResult:
        (result,) = await self.submit_many([fields])
        return result

    async def submit_many(
        self, requests: list[dict[str, Any]], resend_until: list[float] | None = None
    ) -> list[SubmitResult]:
        """Submit many PDUs at once; their outcomes, in order. The binds with room take them
        from one queue, as many as their window has room for, and send those in one write.

        Only the hand-over to a bind is bounded by `queue_wait_s`: once a bind has taken
        the PDU it may be on the wire, and handing it back then would send it twice. The
        bind's own response timeout bounds the rest. A throttled PDU is sent again after a
        pause, unless that would be after its `resend_until` (a trio time): then it comes
        back as RETRY."""
        if not requests:
            return []
        batch = _Batch(len(requests))
        untils = resend_until or [math.inf] * len(requests)
        jobs = [
            _Job(fields, batch, resend_until=until)
            for fields, until in zip(requests, untils, strict=True)
        ]
        self._queue.extend(jobs)
        self._wake_windows()
        try:
            while not batch.done.is_set():
                with trio.move_on_after(self.settings.queue_wait_s):
                    await batch.done.wait()
                # Handed back: not taken in time, nor when a throttled PDU was put back in
                # line and no bind took it again (the bind died during its pause).
                self._withdraw(jobs)
        finally:
            # Nobody waits for them any more.
            self._withdraw(jobs)
        return [job.result for job in jobs if job.result is not None]

    def _withdraw(self, jobs: list[_Job]) -> None:
        if not any(job.queued for job in jobs):
            return
        self._queue = deque(job for job in self._queue if job.batch is not jobs[0].batch)
        reason = f"{self.settings.name}: no bind took it in time"
        for job in jobs:
            if job.queued:
                job.queued = False
                job.finish(SubmitResult(Outcome.RETRY, reason=reason))

    def _wake_windows(self) -> None:
        for window in self._windows:
            window.wake.set()

    async def _keep_bound(self, name: str, mode: str, stats: BindStats) -> None:
        delay = self.settings.reconnect_min_s
        while True:
            if stats.stopped:
                self._set_state(stats, "stopped")
                log.info("%s: stopped by an operator", name)
                await stats.started.wait()
                delay = self.settings.reconnect_min_s
            with trio.CancelScope() as stats.scope:
                try:
                    await self._bind_once(name, mode, stats)
                    delay = self.settings.reconnect_min_s
                except* _LINK_ERRORS as group:
                    errors = "; ".join(map(str, group.exceptions))
                    stats.last_error, stats.last_error_at = errors, time.time()
                    log.warning(
                        "%s (%s:%d): %s", name, self.settings.host, self.settings.port, errors
                    )
                finally:
                    self._set_state(stats, "down")
            stats.scope = None
            if stats.stopped:
                continue
            pause = delay * (0.5 + self._random.random())
            log.info("%s: reconnecting in %.1fs", name, pause)
            await trio.sleep(pause)
            delay = min(delay * 2, self.settings.reconnect_max_s)

    async def _bind_once(self, name: str, mode: str, stats: BindStats) -> None:
        settings = self.settings
        self._set_state(stats, "connecting")
        stream = await trio.open_tcp_stream(settings.host, settings.port)
        if settings.tls:
            context = ssl.create_default_context()
            if not settings.tls_verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            stream = trio.SSLStream(stream, context, server_hostname=settings.host)
        connection = SmppConnection(
            stream,
            Session(),
            Batched(self._inbound),
            name=name,
            response_timeout_s=settings.response_timeout_s,
            enquire_link_s=settings.enquire_link_s,
        )
        async with trio.open_nursery() as link:
            # The reader outlives a cancellation of this bind, so that the unbind below can
            # be answered; it ends when the connection is closed, which the finally ensures.
            await link.start(_shielded, connection.run)
            try:
                async with trio.open_nursery() as workers:
                    await self._bind(connection, mode)
                    self._set_state(stats, connection.session.state.value)
                    log.info("%s: bound (%s)", name, stats.state)
                    if connection.session.state.can_transmit:
                        workers.start_soon(self._send_loop, connection, stats)
                    await connection.wait_closed()
                    workers.cancel_scope.cancel()
            finally:
                with trio.CancelScope(shield=True):
                    if connection.closed:
                        await connection.close()
                    else:
                        await connection.unbind()

    async def _bind(self, connection: SmppConnection, mode: str) -> None:
        command = {"trx": "bind_transceiver", "tx": "bind_transmitter", "rx": "bind_receiver"}
        response = await connection.request(
            command[mode],
            system_id=self.settings.system_id,
            password=self.settings.password,
            system_type=self.settings.system_type,
            interface_version=0x34,
        )
        if response.status != codec.ESME_ROK:
            await connection.close()
            raise BindRefused(f"bind refused: {codec.status_name(response.status)}")

    async def _inbound(self, pdus: list[Pdu]) -> list[Answer]:
        """What the carrier sent in one batch: its deliveries handled together."""
        answers: list[Answer] = [(codec.ESME_RINVCMDID, {})] * len(pdus)
        indexes = [index for index, pdu in enumerate(pdus) if pdu.command in DELIVER_COMMANDS]
        if indexes:
            statuses = await self._on_deliver_batch(
                self.settings.name, [pdus[index] for index in indexes]
            )
            for index, status in zip(indexes, statuses, strict=True):
                answers[index] = (status, {})
        return answers

    async def _each_alone(self, carrier: str, pdus: list[Pdu]) -> list[int]:
        """Without a batch handler: `on_deliver` for each, all at once."""
        statuses = [codec.ESME_RSYSERR] * len(pdus)

        async def one(index: int) -> None:
            statuses[index] = await self._on_deliver(carrier, pdus[index])

        async with trio.open_nursery() as nursery:
            for index in range(len(pdus)):
                nursery.start_soon(one, index)
        return statuses

    async def _send_loop(self, connection: SmppConnection, stats: BindStats) -> None:
        window = _Window(self, connection, stats)
        self._windows.append(window)
        try:
            await window.run()
        finally:
            self._windows.remove(window)
            window.fail_all("bind stopped")

    def _take(self) -> _Job | None:
        while self._queue:
            job = self._queue.popleft()
            job.queued = False
            if job.throttled and trio.current_time() > job.resend_until:
                job.finish(SubmitResult(Outcome.RETRY, status=codec.ESME_RTHROTTLED, reason=LATE))
                continue
            return job
        return None

    def _put_back(self, job: _Job) -> None:
        """A throttled PDU: first in line again, for this bind after its pause or another."""
        job.queued = True
        self._queue.appendleft(job)
        self._wake_windows()


class _Window:
    """The submit_sm one bind has on the wire: taken from the carrier's queue as many as the
    window has room for, sent in one write, answered by the connection's read loop."""

    def __init__(self, carrier: Carrier, connection: SmppConnection, stats: BindStats) -> None:
        self.carrier = carrier
        self.connection = connection
        self.stats = stats
        self.in_flight: dict[int, _Sent] = {}
        """By sequence number, in the order sent: the oldest times out first."""
        self.wake = trio.Event()
        self.paused_until = 0.0
        self._pause = 0.5

    async def run(self) -> None:
        settings = self.carrier.settings
        while not self.connection.closed:
            now = trio.current_time()
            self._expire(now)
            if now < self.paused_until:
                await trio.sleep_until(self.paused_until)
                continue
            room = settings.window - len(self.in_flight)
            if room > 0 and self.carrier._queue:
                await self._send(room)
                continue
            self.wake = trio.Event()
            oldest = next(iter(self.in_flight.values()), None)
            with trio.move_on_at(oldest.deadline if oldest else math.inf):
                await self.wake.wait()

    async def _send(self, room: int) -> None:
        carrier, connection = self.carrier, self.connection
        deadline = trio.current_time() + carrier.settings.response_timeout_s
        while room > 0:
            if carrier._tps is not None:
                await carrier._tps.acquire()
            job = carrier._take()
            if job is None:
                break
            sent = _Sent(self, job, deadline)
            try:
                sent.sequence = connection.queue_request("submit_sm", sent, **job.fields)
            except ValueError as error:  # a field cannot be encoded (UnicodeEncodeError…)
                job.finish(
                    SubmitResult(
                        Outcome.REJECTED,
                        status=codec.ESME_RSUBMITFAIL,
                        reason=f"not encodable as submit_sm: {error}"[:200],
                    )
                )
                continue
            except ConnectionLost as error:
                job.finish(SubmitResult(Outcome.RETRY, reason=str(error)))
                break
            sent.sent_at = trio.current_time()
            self.in_flight[sent.sequence] = sent
            room -= 1
            if carrier._tps is not None:  # paced: each PDU goes when its token came
                break
        self.stats.in_flight = len(self.in_flight)
        # A lost connection tells every handler it had in flight (RETRY): nothing to add.
        with contextlib.suppress(ConnectionLost):
            await connection.send_queued()

    def _expire(self, now: float) -> None:
        timeout = self.carrier.settings.response_timeout_s
        while self.in_flight:
            sequence, sent = next(iter(self.in_flight.items()))
            if sent.deadline > now:
                break
            del self.in_flight[sequence]
            self.connection.session.forget(sequence)
            reason = f"{self.connection.name}: no submit_sm_resp in {timeout}s"
            sent.job.finish(SubmitResult(Outcome.RETRY, reason=reason))
        self.stats.in_flight = len(self.in_flight)

    def answered(self, sent: "_Sent", response: Pdu | None) -> None:
        if self.in_flight.pop(sent.sequence, None) is None:
            return  # timed out already
        self.stats.in_flight = len(self.in_flight)
        self.wake.set()
        job = sent.job
        if response is None:
            reason = f"{self.connection.name}: connection lost before the submit_sm_resp"
            job.finish(SubmitResult(Outcome.RETRY, reason=reason))
            return
        status = response.status
        counts = self.carrier.status_counts
        counts[status] = counts.get(status, 0) + 1
        if status == codec.ESME_ROK:
            self._pause = 0.5
            job.finish(
                SubmitResult(
                    Outcome.ACCEPTED,
                    response.text("message_id"),
                    sent_at=sent.sent_at,
                    answered_at=trio.current_time(),
                )
            )
        elif status in THROTTLE_STATUSES:
            job.throttled += 1
            resend_at = trio.current_time() + self._pause
            if job.throttled >= MAX_THROTTLE_RETRIES or resend_at > job.resend_until:
                reason = "throttled" if job.throttled >= MAX_THROTTLE_RETRIES else LATE
                job.finish(SubmitResult(Outcome.RETRY, status=codec.ESME_RTHROTTLED, reason=reason))
                return
            self.paused_until = resend_at
            self._pause = min(self._pause * 2, 10.0)
            self.carrier._put_back(job)
        else:
            retryable = status in (codec.ESME_RSYSERR, codec.ESME_RX_T_APPN)
            reason = codec.status_name(status)
            self.carrier.last_submit_error = LastError(reason, time.time())
            job.finish(
                SubmitResult(
                    Outcome.RETRY if retryable else Outcome.REJECTED, status=status, reason=reason
                )
            )

    def fail_all(self, reason: str) -> None:
        for sent in self.in_flight.values():
            sent.job.finish(SubmitResult(Outcome.RETRY, reason=reason))
        self.in_flight.clear()
        self.stats.in_flight = 0


class _Sent(ResponseHandler):
    def __init__(self, window: _Window, job: _Job, deadline: float) -> None:
        self.window = window
        self.job = job
        self.deadline = deadline
        self.sequence = 0
        self.sent_at = 0.0

    def answered(self, response: Pdu | None) -> None:
        self.window.answered(self, response)


async def _shielded(run, task_status=trio.TASK_STATUS_IGNORED) -> None:
    with trio.CancelScope(shield=True):
        await run(task_status=task_status)
