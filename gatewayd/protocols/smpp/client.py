"""Binds to one carrier (gatewayd as ESME): kept up, windowed, rate-limited, reconnected.

`Carrier.submit` hands one submit_sm to whichever bind has room and returns its outcome.
Every bind runs `window` workers that take submits from one shared queue, so the window is
respected per bind and load spreads over the binds that are up. Throttling answers
(ESME_RTHROTTLED, ESME_RMSGQFUL) pause the bind and retry the PDU; a connection that dies
with submits in flight reports them as not acknowledged, so the caller re-queues them.
"""

import logging
import random
import ssl
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


@dataclass(eq=False)
class _Job:
    fields: dict[str, Any]
    done: trio.Event = field(default_factory=trio.Event)
    result: SubmitResult | None = None

    def finish(self, result: SubmitResult) -> None:
        self.result = result
        self.done.set()


@dataclass
class BindStats:
    state: str = "down"
    in_flight: int = 0


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
        self._jobs_in, self._jobs_out = trio.open_memory_channel[_Job](0)
        self._tps = TokenBucket(settings.max_tps) if settings.max_tps else None
        self.binds: list[BindStats] = []
        self.status_counts: dict[int, int] = {}
        self._random = random.Random()
        self._state_changed = trio.Event()
        self.unrecorded = trio.Semaphore(max(1, settings.window * settings.binds))
        """Held by a part from before its submit until its record has committed: so a crash
        leaves at most one window per bind sent but not recorded (sent again after restart)."""

    def healthy(self) -> bool:
        return any(b.state in ("tx", "trx") for b in self.binds)

    async def wait_healthy(self) -> None:
        while not self.healthy():
            await self._state_changed.wait()

    def _set_state(self, stats: BindStats, state: str) -> None:
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
                    stats = BindStats()
                    self.binds.append(stats)
                    nursery.start_soon(
                        self._keep_bound, f"{self.settings.name}#{number}{mode}", mode, stats
                    )
            task_status.started()

    async def submit(self, fields: dict[str, Any]) -> SubmitResult:
        """Only the hand-over to a bind is bounded by `queue_wait_s`: once a bind has taken
        the PDU it may be on the wire, and handing it back then would send it twice. The
        bind's own response timeout bounds the rest."""
        job = _Job(fields)
        with trio.move_on_after(self.settings.queue_wait_s) as waiting:
            await self._jobs_in.send(job)
        if waiting.cancelled_caught:
            reason = f"{self.settings.name}: no bind took it in time"
            return SubmitResult(Outcome.RETRY, reason=reason)
        await job.done.wait()
        assert job.result is not None
        return job.result

    async def _keep_bound(self, name: str, mode: str, stats: BindStats) -> None:
        delay = self.settings.reconnect_min_s
        while True:
            try:
                await self._bind_once(name, mode, stats)
                delay = self.settings.reconnect_min_s
            except* _LINK_ERRORS as group:
                errors = "; ".join(map(str, group.exceptions))
                log.warning("%s (%s:%d): %s", name, self.settings.host, self.settings.port, errors)
            finally:
                self._set_state(stats, "down")
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
                        for _ in range(settings.window):
                            workers.start_soon(self._worker, connection, stats)
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

    async def _worker(self, connection: SmppConnection, stats: BindStats) -> None:
        while not connection.closed:
            job = await self._jobs_out.receive()
            stats.in_flight += 1
            try:
                job.finish(await self._send(connection, job.fields))
            except BaseException:
                job.finish(SubmitResult(Outcome.RETRY, reason="bind stopped"))
                raise
            finally:
                stats.in_flight -= 1

    async def _send(self, connection: SmppConnection, fields: dict[str, Any]) -> SubmitResult:
        pause = 0.5
        for _ in range(MAX_THROTTLE_RETRIES):
            if self._tps is not None:
                await self._tps.acquire()
            try:
                response = await connection.request("submit_sm", **fields)
            except (ConnectionLost, ResponseTimeout) as error:
                return SubmitResult(Outcome.RETRY, reason=str(error))
            except ValueError as error:  # smpplib cannot encode a field (UnicodeEncodeError…)
                return SubmitResult(
                    Outcome.REJECTED,
                    status=codec.ESME_RSUBMITFAIL,
                    reason=f"not encodable as submit_sm: {error}"[:200],
                )
            self.status_counts[response.status] = self.status_counts.get(response.status, 0) + 1
            if response.status == codec.ESME_ROK:
                return SubmitResult(Outcome.ACCEPTED, response.text("message_id"))
            if response.status not in THROTTLE_STATUSES:
                retryable = response.status in (codec.ESME_RSYSERR, codec.ESME_RX_T_APPN)
                return SubmitResult(
                    Outcome.RETRY if retryable else Outcome.REJECTED,
                    status=response.status,
                    reason=codec.status_name(response.status),
                )
            await trio.sleep(pause)
            pause = min(pause * 2, 10.0)
        return SubmitResult(Outcome.RETRY, status=codec.ESME_RTHROTTLED, reason="throttled")


async def _shielded(run, task_status=trio.TASK_STATUS_IGNORED) -> None:
    with trio.CancelScope(shield=True):
        await run(task_status=task_status)
