"""The daemon: one trio nursery that owns every task, started in order and stopped in reverse.

Start: configuration → database (migrated on SQLite) → group-commit writer → front doors
(HTTP API, admin when configured, SMTP, SMPP: their listeners are taken before anything
shared is touched, so a second process started by mistake fails with "address already in use"
having changed nothing) → this instance joins (a lease of its own; dead instances' claims are
handed back) → carriers, dispatcher, outboxes, sweeps → READY=1. SIGTERM/SIGINT: STOPPING=1,
the front doors stop accepting and finish what is in flight, then the writer commits what is
queued and hands back the work this instance had claimed, then exit 0. SIGHUP reloads the
configuration file; an invalid file is refused and the running one stays.
"""

import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import trio
from sqlalchemy import Engine

from gatewayd.config.holder import ConfigHolder
from gatewayd.config.loader import load_config
from gatewayd.config.schema import DatabaseConfig
from gatewayd.core.carriers import CarrierPool
from gatewayd.core.clock import Clock
from gatewayd.core.dispatcher import Dispatcher, DispatchSettings
from gatewayd.core.idempotency_sweep import IdempotencyKeySweep
from gatewayd.core.inbound import Inbound
from gatewayd.core.instance_lease import InstanceLease
from gatewayd.core.message_service import MessageService
from gatewayd.core.mo_timeouts import FragmentSweeper
from gatewayd.core.operator_switches import OperatorSwitches
from gatewayd.core.receipt_deadline import ReceiptDeadline
from gatewayd.core.receipt_matching import ReceiptMatcher
from gatewayd.core.retention import Retention
from gatewayd.core.smpp_outbox import SmppOutbox
from gatewayd.core.status import StatusReport
from gatewayd.core.submission import Submitter
from gatewayd.core.webhook_outbox import OutboxSettings, WebhookOutbox
from gatewayd.http_workers import HttpWorkers, WorkerFailedToStart
from gatewayd.logs import setup_logging
from gatewayd.metrics import Metrics
from gatewayd.protocols.listeners import ListenError
from gatewayd.protocols.smpp.front_door import SmppFrontDoor
from gatewayd.protocols.webhooks.egress import Egress
from gatewayd.sd_notify import Notifier
from gatewayd.storage.engine import DatabaseUnavailable, check_connection, open_engine
from gatewayd.storage.instances import new_instance_id
from gatewayd.storage.migrate import current_revision, head_revision, upgrade
from gatewayd.storage.writer import StorageUnavailable, Writer, answering_within

log = logging.getLogger("gatewayd")


class StartupError(Exception):
    """Something the daemon needs at start is not there; the message is one line for the user."""


STOP_WRITE_TIMEOUT_S = 5.0

# Reported as one line and exit status 1, without a traceback.
_STARTUP_ERRORS = (StartupError, ListenError, WorkerFailedToStart)


@dataclass
class Runtime:
    """What every part of the running daemon shares."""

    holder: ConfigHolder
    engine: Engine
    writer: Writer
    metrics: Metrics
    notifier: Notifier
    node_id: str
    clock: Clock = field(default_factory=Clock)
    stop_requested: trio.Event = field(default_factory=trio.Event)
    service: MessageService | None = None
    """What the front doors ask of the core."""
    dispatcher: Dispatcher | None = None
    carriers: CarrierPool | None = None
    inbound: Inbound | None = None
    receipts: ReceiptMatcher | None = None
    egress: Egress | None = None
    webhooks: WebhookOutbox | None = None
    smpp_door: SmppFrontDoor | None = None
    workers: HttpWorkers | None = None
    """The Message API's worker processes, when it is not served in this process."""
    retention: Retention | None = None
    status: StatusReport | None = None
    """What the admin API's status page shows."""
    switches: OperatorSwitches | None = None
    """Suspended carriers and maintenance mode (admin commands)."""
    lease: InstanceLease | None = None
    joined: bool = False

    @property
    def instance_id(self) -> str:
        """What this process's claims carry: its lease's id (the node id alone in tests that
        run the work without one)."""
        return self.lease.instance_id if self.lease is not None else self.node_id

    async def reload(self) -> bool:
        """Load the configuration file again (SIGHUP, `gatewayd admin reload`): True when the
        new one runs, False when it was refused and the running one stays."""
        self.notifier.reloading()
        reloaded = await self.holder.reload()
        self.metrics.config_reloads.labels("ok" if reloaded else "refused").inc()
        self.metrics.config_generation.set(self.holder.current.generation)
        if self.workers is not None:
            self.workers.reload()
        self.notifier.ready("serving")
        return reloaded


def run(config_path: Path) -> int:
    """`gatewayd run`: the process exit status."""
    config = load_config(config_path)
    setup_logging(config.logging)
    try:
        trio.run(serve, config_path)
    except BaseExceptionGroup as group:
        startup_errors, rest = group.split(_STARTUP_ERRORS)
        if rest is not None or startup_errors is None:
            raise
        for error in _leaves(startup_errors):
            print(f"gatewayd: {error}", file=sys.stderr)
        return 1
    except _STARTUP_ERRORS as error:
        print(f"gatewayd: {error}", file=sys.stderr)
        return 1
    return 0


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:
    leaves: list[BaseException] = []
    for error in group.exceptions:
        leaves += _leaves(error) if isinstance(error, BaseExceptionGroup) else [error]
    return leaves


async def serve(config_path: Path, notifier: Notifier | None = None) -> None:
    notifier = notifier or Notifier()
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        holder = ConfigHolder(config_path, load_config(config_path))
        config = holder.current.config
        engine = await trio.to_thread.run_sync(prepare_database, config.database)
        writer = Writer(
            engine,
            max_batch=config.database.max_batch,
            commit_interval_s=config.database.commit_interval_s,
        )
        metrics = Metrics()
        metrics.watch_writer(writer)
        metrics.config_generation.set(holder.current.generation)
        node_id = config.node_id or socket.gethostname()
        runtime = Runtime(holder, engine, writer, metrics, notifier, node_id)
        lease = runtime.lease = InstanceLease(
            writer,
            runtime.clock,
            new_instance_id(node_id),
            node_id,
            timedelta(seconds=config.database.instance_lease_s),
        )
        try:
            async with trio.open_nursery() as storage:
                await storage.start(writer.run)
                async with trio.open_nursery() as work:
                    loops = _build_work(runtime)
                    assert runtime.switches is not None, "built with the work"
                    await runtime.switches.refresh()  # maintenance holds from the first request
                    await _serve_front_doors(
                        runtime, signals, lambda: _start_work(runtime, work, loops)
                    )
                    log.info("unbinding from carriers")
                    work.cancel_scope.cancel()
                if runtime.egress is not None:
                    await runtime.egress.aclose()
                if runtime.joined:
                    await _hand_back_claims(lease)
                writer.close()
        finally:
            engine.dispose()
            notifier.close()
    log.info("gatewayd stopped")


async def _hand_back_claims(lease: InstanceLease) -> None:
    """Hand back what this instance had claimed, so another takes it at once rather than when
    its leases run out; when the storage refuses (disk full), they run out by themselves."""
    try:
        with answering_within(STOP_WRITE_TIMEOUT_S):
            await lease.leave()
    except StorageUnavailable as error:
        log.warning("claims not handed back (%s): they run out by themselves", error)


Loop = Callable[..., Awaitable[None]]


def _build_work(runtime: Runtime) -> list[tuple[Loop, ...]]:
    """The carrier side (receipts and incoming messages in, binds, the dispatcher) and the
    outboxes, built but not started: the loops that claim shared work, to start once the
    listeners are ours."""
    metrics = runtime.metrics
    lease = timedelta(seconds=runtime.holder.current.config.database.claim_lease_s)
    receipts = runtime.receipts = ReceiptMatcher(
        runtime.holder, runtime.writer, runtime.clock, metrics.count_status, metrics.observe_receipt
    )
    inbound = runtime.inbound = Inbound(runtime.holder, runtime.writer, receipts, runtime.clock)
    runtime.carriers = CarrierPool(inbound.on_deliver, inbound.on_deliver_batch)
    runtime.metrics.watch_carriers(runtime.carriers)
    runtime.metrics.watch_inbound(inbound, receipts)
    switches = runtime.switches = OperatorSwitches(
        runtime.holder, runtime.engine, runtime.writer, runtime.carriers, runtime.clock
    )
    deadline = ReceiptDeadline(
        runtime.holder, runtime.writer, runtime.clock, on_status=metrics.count_status
    )
    runtime.retention = Retention(
        runtime.holder, runtime.writer, runtime.engine, runtime.clock, metrics.count_deleted
    )
    metrics.watch_tables(runtime.retention)
    runtime.status = StatusReport(
        runtime.holder,
        runtime.engine,
        runtime.carriers,
        runtime.retention,
        metrics.totals,
        runtime.clock,
        lambda: runtime.instance_id,
    )
    loops: list[tuple[Loop, ...]] = [
        (switches.run,),  # read before anything is submitted: a suspension outlives a restart
        (FragmentSweeper(inbound, runtime.writer, runtime.clock).run,),
        (deadline.run,),
        (receipts.expiry.run,),
        (runtime.retention.run,),
        (IdempotencyKeySweep(runtime.holder, runtime.writer, runtime.clock).run,),
        (runtime.carriers.run, runtime.holder),
        (runtime.status.history.run,),
    ]
    runtime.dispatcher = Dispatcher(
        runtime.holder,
        runtime.writer,
        runtime.carriers,
        receipts,
        runtime.instance_id,
        runtime.clock,
        DispatchSettings(lease=lease, no_route_wait_s=min(30.0, lease.total_seconds() / 4)),
        on_status=metrics.count_status,
    )
    loops.append((runtime.dispatcher.run,))
    hooks = runtime.holder.current.config.webhooks
    egress = runtime.egress = Egress(
        [str(address) for address in hooks.source_addresses],
        connect_timeout_s=hooks.connect_timeout_s,
        timeout_s=hooks.timeout_s,
        max_per_host=hooks.max_per_host,
    )
    runtime.webhooks = WebhookOutbox(
        runtime.holder,
        runtime.writer,
        runtime.egress,
        runtime.instance_id,
        runtime.clock,
        OutboxSettings(lease=lease),
        on_attempt=runtime.metrics.count_webhook,
    )
    loops.append((runtime.webhooks.run,))
    submitter = Submitter(runtime.engine, runtime.writer, runtime.clock, runtime.metrics)
    runtime.service = MessageService(
        runtime.holder,
        runtime.engine,
        runtime.writer,
        submitter,
        runtime.clock,
        on_accepted=runtime.dispatcher.wake,
        on_status=metrics.count_status,
        webhook_sources=lambda: {"SourceAddresses": egress.usable, "Unusable": egress.unusable},
        in_maintenance=lambda: switches.maintenance,
    )
    if runtime.holder.current.config.smpp_server is not None:
        runtime.smpp_door = SmppFrontDoor(runtime.service, runtime.stop_requested)
        outbox = SmppOutbox(
            runtime.holder,
            runtime.writer,
            runtime.smpp_door.binds,
            runtime.instance_id,
            runtime.clock,
            lease,
        )
        loops.append((outbox.run,))
    return loops


async def _start_work(runtime: Runtime, nursery: trio.Nursery, loops: list[tuple[Loop, ...]]):
    """Join as an instance (forgetting dead ones, handing back what those whose process is
    gone held), then start the loops."""
    if runtime.lease is not None:
        await runtime.lease.join()
        runtime.joined = True
        await nursery.start(runtime.lease.run)
    for loop, *args in loops:
        await nursery.start(loop, *args)


async def _serve_front_doors(
    runtime: Runtime, signals, start_work: Callable[[], Awaitable[None]]
) -> None:
    """Open every front door, then join as an instance and start the work, then serve until
    asked to stop."""
    from gatewayd.protocols.http.service import serve_admin, serve_api
    from gatewayd.protocols.smtp.server import serve_smtp

    async with trio.open_nursery() as background:
        background.start_soon(_handle_signals, runtime, signals)
        background.start_soon(runtime.notifier.keep_watchdog_fed, lambda: True)
        async with trio.open_nursery() as doors:
            holder = runtime.holder
            workers = holder.current.config.http.worker_count(os.cpu_count())
            if workers:
                assert runtime.service is not None, "the core's service is built before the doors"
                runtime.workers = HttpWorkers(workers, holder, runtime.service, runtime.metrics)
                await doors.start(runtime.workers.serve, runtime.stop_requested)
            else:
                await doors.start(serve_api, runtime)
            if runtime.holder.current.config.admin is not None:
                await doors.start(serve_admin, runtime)
            if runtime.holder.current.config.smtp is not None:
                await doors.start(serve_smtp, runtime)
            if runtime.smpp_door is not None:
                await doors.start(runtime.smpp_door.serve)
            await start_work()
            runtime.notifier.ready()
            log.info("gatewayd ready (instance %s)", runtime.instance_id)
            await runtime.stop_requested.wait()
            runtime.notifier.stopping()
            log.info("stopping: no new requests; finishing those in flight")
        background.cancel_scope.cancel()


async def _handle_signals(runtime: Runtime, signals) -> None:
    async for signum in signals:
        if signum == signal.SIGHUP:
            await runtime.reload()
        else:
            log.info("received %s", signal.Signals(signum).name)
            runtime.stop_requested.set()


def prepare_database(config: DatabaseConfig) -> Engine:
    """Open the database, migrate it when configured to, and refuse a schema that is behind."""
    engine = open_engine(config)
    try:
        check_connection(engine)
        if config.migrates_at_start:
            upgrade(engine)
        else:
            have, need = current_revision(engine), head_revision()
            if have != need:
                raise StartupError(
                    f"database schema is at revision {have or 'none'}, this gatewayd needs "
                    f"{need}: run `gatewayd migrate`"
                )
    except DatabaseUnavailable as error:
        engine.dispose()
        raise StartupError(str(error)) from None
    except StartupError:
        engine.dispose()
        raise
    return engine
