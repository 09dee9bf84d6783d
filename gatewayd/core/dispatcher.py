"""Taking due messages from storage and submitting them to carriers.

Messages are claimed (leased to this node) in batches, and a batch is handled by one task:
expiry, opt-outs and sandbox decided for the whole batch and written in one go; each message
routed to the first healthy carrier of its route that is not suspended, split into parts,
and the parts of a carrier's messages submitted together in rounds (the next part of every
message still going, as many as the carrier's windows have room for, sent in one write per
bind; see `Carrier.submit_many`). The parts accepted in a round are recorded in one write, the
rejected and retried messages settled in another. Each accepted part is
recorded with the carrier's message id before anything else happens to it, so a receipt can
always find it; a part that was not acknowledged sends the message back to the queue (at
least once: nothing is lost, a duplicate at the carrier is possible within the window). A
part the carrier accepted is never submitted again because its record failed here: the
record is written again until it commits.

A message whose route has no healthy carrier (a flap, an outage) leaves its batch and waits
for one in the dispatcher's waiting room, outside the claim loop's batch slots: waiting in a
slot, ten batches with such a message would stop dispatch for every route.
"""

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import trio
from sqlalchemy import Connection, Row

from gatewayd.config.checks import submit_margin_s
from gatewayd.config.holder import ConfigHolder
from gatewayd.config.schema import CarrierConfig
from gatewayd.core.addresses import smpp_time, source_address
from gatewayd.core.carriers import CarrierPool
from gatewayd.core.claim_loop import ClaimLoop
from gatewayd.core.clock import wall_times
from gatewayd.core.encoding import Encoding, encode_text
from gatewayd.core.lifecycle import Transitions
from gatewayd.core.receipt_matching import ReceiptMatcher, SubmittedPart
from gatewayd.core.routing import Routes
from gatewayd.core.segmentation import PduPart, build_parts
from gatewayd.core.statuses import Status, StatusCallback
from gatewayd.core.throughput import Throughput
from gatewayd.protocols.smpp.client import Carrier, Outcome
from gatewayd.storage import blacklist as blacklist_store
from gatewayd.storage import messages as store
from gatewayd.storage.writer import Writer, WriterClosed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DispatchSettings:
    batch: int = 200
    lease: timedelta = timedelta(seconds=120)
    idle_poll_s: float = 0.5
    claim_gather_s: float = 0.005
    max_in_flight: int = 2000
    no_route_retry: timedelta = timedelta(seconds=5)
    no_route_wait_s: float = 30.0
    """How long a claimed message waits for a carrier of its route to come back (well inside
    the lease) before it is handed back to the queue."""
    max_unrouted: int = 2000
    """How many claimed messages may wait for a carrier of their route at once; past that a
    message without one goes back to the queue at once, for `no_route_retry`."""
    max_retry_delay_s: float = 60.0
    record_retry_s: tuple[float, float] = (0.05, 5.0)
    """First and longest wait between two attempts to record a part the carrier accepted."""


_Finish = tuple[Row, Status, str, dict[str, Any]]
_Group = tuple[Carrier, CarrierConfig, list[Row]]


@dataclass
class _Batch:
    open: dict[str, Row]
    """The messages of a claimed batch not decided yet (not finished, back in the queue,
    submitted whole, waiting for a route elsewhere or left to a new claim)."""


@dataclass
class _Sending:
    """A message being submitted: its parts still to go, in order."""

    row: Row
    common: dict[str, Any]
    parts: list[PduPart]
    numbers: deque[int]
    count: int

    @classmethod
    def of(cls, row: Row, config: CarrierConfig, done: set[int]) -> "_Sending":
        encoding = Encoding.TEXT if row.encoding == "TEXT" else Encoding.UNICODE
        parts = build_parts(encode_text(row.body, encoding), config.concatenation, row.concat_ref)
        common = {
            **source_address(row.sender or config.bulk_sender),
            "destination_addr": row.recipient,
            "dest_addr_ton": 1,
            "dest_addr_npi": 1,
            "registered_delivery": 1,
            "validity_period": smpp_time(row.validity_until),
            "replace_if_present_flag": 1 if row.replace_if_present else 0,
            "priority_flag": row.priority,
            "data_coding": 0 if encoding is Encoding.TEXT else 8,
        }
        numbers = deque(n for n in range(1, len(parts) + 1) if n not in done)
        return cls(row, common, parts, numbers, len(parts))

    def fields(self) -> dict[str, Any]:
        """The submit_sm of the next part."""
        part = self.parts[self.numbers[0] - 1]
        return {
            **self.common,
            "short_message": part.short_message,
            "esm_class": part.esm_class,
            **part.tlvs,
        }

    def take(self) -> int:
        """The next part was accepted: its number."""
        return self.numbers.popleft()


class Dispatcher:
    def __init__(
        self,
        holder: ConfigHolder,
        writer: Writer,
        carriers: CarrierPool,
        receipts: ReceiptMatcher,
        node_id: str,
        clock: Callable[[], datetime],
        settings: DispatchSettings = DispatchSettings(),
        on_status: StatusCallback | None = None,
    ) -> None:
        self._on_status = on_status
        self._holder = holder
        self._writer = writer
        self._carriers = carriers
        self._receipts = receipts
        self._node = node_id
        self._clock = clock
        self._settings = settings
        self._loop = ClaimLoop(
            writer,
            self._claim,
            None,
            handle_batch=self._dispatch_batch,
            batch=settings.batch,
            concurrency=max(1, settings.max_in_flight // settings.batch),
            idle_poll_s=settings.idle_poll_s,
            gather_s=settings.claim_gather_s,
        )
        self.wake = self._loop.wake
        self._routes_generation = -1
        self._routes: Routes | None = None
        self._waiting_room: trio.Nursery | None = None
        self._unrouted = 0
        """Messages in the waiting room: waiting for a route or being submitted from it."""
        self._throughput = Throughput(trio.current_time)

    async def run(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._waiting_room = nursery
            await nursery.start(self._loop.run)
            task_status.started()

    def _claim(self, connection: Connection) -> list[Row]:
        s = self._settings
        return store.claim_due_messages(connection, self._node, self._clock(), s.lease, s.batch)

    async def _dispatch_batch(self, rows: list[Row]) -> None:
        """One claimed batch: decided, submitted and recorded together. Whatever of it is
        left undecided when something fails goes back to the queue."""
        batch = _Batch({row.id: row for row in rows})
        try:
            await self._dispatch(batch)
        except Exception:
            log.exception(
                "dispatching a batch failed; its %d undecided messages go back to the queue",
                len(batch.open),
            )
            await self._settle(batch, [], [(row, "internal error") for row in batch.open.values()])

    async def _dispatch(self, batch: _Batch) -> None:
        now = self._clock()
        rows = list(batch.open.values())
        opted_out = await self._opted_out_since(
            [row for row in rows if row.time_scheduled is not None and now < row.validity_until]
        )
        finishes: list[_Finish] = []
        to_send: list[Row] = []
        for row in rows:
            if now >= row.validity_until:
                finishes.append((row, Status.EXPIRED, "validity ended before submission", {}))
            elif row.id in opted_out:
                reason = "the recipient opted out before sending"
                finishes.append((row, Status.BLACKLISTED, reason, {}))
            elif row.sandbox:
                description = Status.DELIVERED.description
                finishes.append((row, Status.DELIVERED, description, {"submitted": True}))
            else:
                to_send.append(row)
        if finishes:
            await self._settle(batch, finishes, [])
        to_send, waiting = self._throughput.admit(self._holder.current.directory, to_send)
        if waiting:
            await self._postpone(batch, waiting)
        groups, unrouted = self._route(to_send)
        if unrouted:
            await self._hand_off(batch, unrouted)
        if len(groups) == 1:  # the usual case, without a task
            await self._submit(batch, *next(iter(groups.values())))
            return
        async with trio.open_nursery() as nursery:
            self._start_submits(nursery, batch, groups)

    def _start_submits(
        self, nursery: trio.Nursery, batch: _Batch, groups: dict[str, _Group]
    ) -> None:
        for carrier, config, group in groups.values():
            nursery.start_soon(self._alone, batch, group, self._submit, carrier, config, group)

    def _route(self, rows: list[Row]) -> tuple[dict[str, _Group], list[Row]]:
        """`rows` by the carrier each goes to, and those whose route has none healthy."""
        groups: dict[str, _Group] = {}
        unrouted: list[Row] = []
        for row in rows:
            chosen = self._choose_carrier(row)
            if chosen is None:
                unrouted.append(row)
                continue
            carrier, config = chosen
            groups.setdefault(config.name, (carrier, config, []))[2].append(row)
        return groups, unrouted

    async def _alone(
        self, batch: _Batch, rows: list[Row], work: Callable[..., Awaitable[None]], *args: Any
    ) -> None:
        """Run one carrier's share of a batch so that its failure stays its own: only its
        undecided messages go back to the queue. Raising would cancel its siblings, maybe
        between a part the carrier accepted and its record, and that part would be sent
        again."""
        try:
            await work(batch, *args)
        except Exception:
            mine = [(row, "internal error") for row in rows if row.id in batch.open]
            log.exception(
                "dispatching %d messages failed; %d undecided go back to the queue",
                len(rows),
                len(mine),
            )
            for row, _ in mine:
                batch.open.pop(row.id, None)
            try:
                await self._settle(batch, [], mine)
            except Exception:
                log.exception("their claims could not be handed back; they run out by themselves")

    async def _hand_off(self, batch: _Batch, rows: list[Row]) -> None:
        """Messages without a healthy carrier leave `batch` for the waiting room, as many as
        it has room for; the others go back to the queue now."""
        assert self._waiting_room is not None
        room = max(0, self._settings.max_unrouted - self._unrouted)
        waiting, back = rows[:room], rows[room:]
        if waiting:
            self._unrouted += len(waiting)
            for row in waiting:
                batch.open.pop(row.id, None)
            self._waiting_room.start_soon(self._wait_for_routes, waiting)
        if back:
            log.info(
                "%d messages without a carrier back to the queue: %d already wait for one",
                len(back),
                self._unrouted,
            )
            await self._release(batch, back)

    async def _wait_for_routes(self, rows: list[Row]) -> None:
        """In the waiting room: `rows` wait for a carrier of their route, holding their claim
        (cheaper than handing it back and claiming it again). Each goes as soon as one is up,
        with the others it takes; those still waiting after no_route_wait_s (well inside the
        lease) go back to the queue."""
        batch = _Batch({row.id: row for row in rows})
        try:
            await self._alone(batch, rows, self._submit_when_routed, rows)
        finally:
            self._unrouted -= len(rows)

    async def _submit_when_routed(self, batch: _Batch, rows: list[Row]) -> None:
        waiting = rows
        async with trio.open_nursery() as nursery:
            with trio.move_on_after(self._settings.no_route_wait_s):
                while True:
                    groups, waiting = self._route(waiting)
                    self._start_submits(nursery, batch, groups)
                    if not waiting:
                        break
                    await self._carriers.wait_changed()
            if waiting:
                nursery.start_soon(self._alone, batch, waiting, self._release, waiting)

    async def _release(self, batch: _Batch, rows: list[Row]) -> None:
        """Hand `rows` back to the queue for no_route_retry, their attempts unchanged."""
        retry_at = self._clock() + self._settings.no_route_retry

        def release(connection: Connection) -> None:
            for row in rows:
                store.release_claim(connection, row.id, retry_at)

        await self._writer.write(release, urgent=False)
        for row in rows:
            batch.open.pop(row.id, None)

    async def _postpone(self, batch: _Batch, waiting: list[tuple[Row, float]]) -> None:
        """Back to the queue until their application's throughput cap lets them go, their
        attempts unchanged."""
        now = self._clock()

        def postpone(connection: Connection) -> None:
            for row, wait_s in waiting:
                store.release_claim(connection, row.id, now + timedelta(seconds=wait_s))

        await self._writer.write(postpone, urgent=False)
        for row, _ in waiting:
            batch.open.pop(row.id, None)

    async def _submit(
        self, batch: _Batch, carrier: Carrier, config: CarrierConfig, rows: list[Row]
    ) -> None:
        """Submit the messages of one carrier in rounds: in each, the next part of every
        message still going (so a message's parts go in order, each after the previous was
        accepted and recorded), as many as the carrier has slots for, in one submit_many."""
        done: dict[str, set[int]] = {}
        again = [row.id for row in rows if row.attempts]
        if again:
            done = await self._writer.write(
                lambda c: {
                    message_id: store.submitted_parts(c, message_id) for message_id in again
                },
                urgent=False,
            )
        going: deque[_Sending] = deque()
        for row in rows:
            try:
                going.append(_Sending.of(row, config, done.get(row.id, set())))
            except Exception:
                log.exception("message %s: its parts could not be built", row.id)
                await self._settle(batch, [], [(row, "internal error")])
        while going:
            taken = await carrier.unrecorded.take(len(going), rank=going[0].row.priority)
            round_ = [going.popleft() for _ in range(taken)]
            ready = []
            for sending in round_:
                if self._claim_lasts(sending.row, config):
                    ready.append(sending)
                    continue
                log.info(
                    "message %s: its claim ends too soon to submit; left to a new claim",
                    sending.row.id,
                )
                batch.open.pop(sending.row.id, None)
            carrier.unrecorded.give_back(taken - len(ready))
            try:
                results = await carrier.submit_many(
                    [sending.fields() for sending in ready],
                    [self._resend_until(sending.row, config) for sending in ready],
                )
                wall_time = wall_times(self._clock)
                accepted: list[SubmittedPart] = []
                finishes: list[_Finish] = []
                retries: list[tuple[Row, str]] = []
                for sending, result in zip(ready, results, strict=True):
                    row = sending.row
                    if result.outcome is Outcome.ACCEPTED:
                        number = sending.take()
                        last = number == sending.count
                        message_id = result.message_id or ""
                        accepted.append(
                            SubmittedPart(
                                row,
                                number,
                                config,
                                message_id,
                                last,
                                wall_time(result.sent_at),
                                wall_time(result.answered_at),
                            )
                        )
                        if sending.numbers:
                            going.append(sending)
                        else:
                            batch.open.pop(row.id, None)
                    elif result.outcome is Outcome.REJECTED:
                        values = {"smpp_status": result.status, "carrier": config.name}
                        finishes.append((row, Status.REJECTED, result.reason, values))
                    else:
                        retries.append((row, result.reason))
                if accepted:
                    await self._record(accepted)
            finally:
                carrier.unrecorded.give_back(len(ready))
            if finishes or retries:
                await self._settle(batch, finishes, retries)

    async def _record(self, parts: list[SubmittedPart]) -> None:
        """Record parts the carrier accepted, however often the write fails: retry the
        write, never the submit (the messages stay claimed, their carrier slots held). Each
        part is written alone, so one the storage cannot take holds up no other."""
        delay, longest = self._settings.record_retry_s
        failures = 0
        while True:
            try:
                errors = await self._receipts.record_parts(parts)
            except WriterClosed:
                raise
            except Exception as error:
                errors = [error] * len(parts)
            failed = [(p, e) for p, e in zip(parts, errors, strict=True) if e is not None]
            if not failed:
                break
            for _, error in failed:
                if isinstance(error, WriterClosed):
                    raise error
            failures += 1
            parts = [part for part, _ in failed]
            log.error(
                "%d parts accepted by %s could not be recorded (failure %d): %s; writing "
                "them again in %.2fs, not submitting them again",
                len(parts),
                parts[0].carrier.name,
                failures,
                ", ".join(f"{p.message.id}/{p.part_no}={p.carrier_id!r}" for p in parts),
                delay,
                exc_info=failed[0][1],
            )
            await trio.sleep(delay)
            delay = min(delay * 2, longest)
        if failures:
            log.warning("%d parts recorded after %d failures", len(parts), failures)

    def _resend_until(self, row: Row, carrier: CarrierConfig) -> float:
        """The trio time until which a throttled part of `row` may be sent again: past it,
        `_claim_lasts` would no longer hold."""
        return trio.current_time() + self._claim_spare_s(row, carrier)

    def _claim_lasts(self, row: Row, carrier: CarrierConfig) -> bool:
        """Whether this node's claim on `row` outlasts a submit and its record: past its end
        another node may claim the message and send it too."""
        return self._claim_spare_s(row, carrier) > 0

    def _claim_spare_s(self, row: Row, carrier: CarrierConfig) -> float:
        """How long this node's claim on `row` lasts beyond a submit begun now."""
        left = (row.claimed_until - self._clock()).total_seconds()
        return left - submit_margin_s(carrier)

    async def _opted_out_since(self, rows: list[Row]) -> set[str]:
        """The scheduled messages whose recipient texted STOP since they were accepted."""
        directory = self._holder.current.directory
        by_account: dict[str, list[Row]] = {}
        for row in rows:
            app = directory.by_name.get(row.application)
            if app is not None and app.account.blacklist:
                by_account.setdefault(row.account, []).append(row)
        if not by_account:
            return set()

        def opted_out(connection: Connection) -> set[str]:
            found: set[str] = set()
            for account, mine in by_account.items():
                stopped = blacklist_store.blacklisted_among(
                    connection, account, [row.recipient for row in mine]
                )
                found.update(row.id for row in mine if row.recipient in stopped)
            return found

        return await self._writer.write(opted_out, urgent=False)

    def _choose_carrier(self, row: Row):
        """The first healthy carrier of the message's route; a reply to an incoming message
        waits for the carrier that delivered it, while that carrier is configured."""
        snapshot = self._holder.current
        if self._routes is None or self._routes_generation != snapshot.generation:
            self._routes = Routes(snapshot.config)
            self._routes_generation = snapshot.generation
        pinned = row.pinned_carrier
        names = [pinned] if pinned and self._carriers.get(pinned) else None
        for name in names or self._routes.carriers_for(row.recipient):
            found = self._carriers.available(name)
            if found is not None:
                return found
        return None

    async def _settle(
        self, batch: _Batch, finishes: list[_Finish], retries: list[tuple[Row, str]]
    ) -> None:
        """Final statuses and returns to the queue (with backoff), in one write."""
        sandboxed = {row.id for row, *_ in finishes if row.sandbox}

        def settle(connection: Connection) -> list[tuple[str, str, Status, bool]]:
            now = self._clock()
            transitions = Transitions(self._holder.current.directory, now)
            for row, status, description, values in finishes:
                transitions.ask(row.id, status, description, **values)
            transitions.apply(connection)
            for row, _ in retries:
                delay = self._retry_delay(row)
                store.release_claim(
                    connection, row.id, now + timedelta(seconds=delay), attempts=row.attempts + 1
                )
            return [
                (*change.counted, change.message_id in sandboxed) for change in transitions.reached
            ]

        for row, reason in retries:
            log.info(
                "message %s back to the queue for %.0fs: %s", row.id, self._retry_delay(row), reason
            )
        reached = await self._writer.write(settle, urgent=False)
        for row, *_ in finishes:
            batch.open.pop(row.id, None)
        for row, _ in retries:
            batch.open.pop(row.id, None)
        if self._on_status is not None:
            for application, carrier, status, sandbox in reached:
                self._on_status(application, carrier, status, sandbox=sandbox)

    def _retry_delay(self, row: Row) -> float:
        return min(2 ** min(row.attempts, 10), self._settings.max_retry_delay_s)
