"""Taking due messages from storage and submitting them to carriers.

A message is claimed (leased to this node), checked for expiry, routed to the first healthy
carrier of its route, split into parts and submitted part by part. Each accepted part is
recorded with the carrier's message id before anything else happens to it, so a receipt can
always find it; a part that was not acknowledged sends the message back to the queue (at
least once: nothing is lost, a duplicate at the carrier is possible within the window). A
part the carrier accepted is never submitted again because its record failed here: the
record is written again until it commits.
"""

import logging
from collections.abc import Callable
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
from gatewayd.core.encoding import Encoding, encode_text
from gatewayd.core.events import status_events_in
from gatewayd.core.receipt_matching import ReceiptMatcher
from gatewayd.core.routing import Routes
from gatewayd.core.segmentation import build_parts
from gatewayd.core.statuses import Status, StatusCallback
from gatewayd.protocols.smpp.client import Outcome
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
    max_retry_delay_s: float = 60.0
    record_retry_s: tuple[float, float] = (0.05, 5.0)
    """First and longest wait between two attempts to record a part the carrier accepted."""


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
            self._dispatch_one,
            batch=settings.batch,
            concurrency=settings.max_in_flight,
            idle_poll_s=settings.idle_poll_s,
            gather_s=settings.claim_gather_s,
        )
        self.wake = self._loop.wake
        self.run = self._loop.run
        self._routes_generation = -1
        self._routes: Routes | None = None

    def _claim(self, connection: Connection) -> list[Row]:
        s = self._settings
        return store.claim_due_messages(connection, self._node, self._clock(), s.lease, s.batch)

    async def _dispatch_one(self, row: Row) -> None:
        try:
            await self._dispatch(row)
        except Exception:
            log.exception("dispatching %s failed; it goes back to the queue", row.id)
            await self._retry(row, "internal error")

    async def _dispatch(self, row: Row) -> None:
        now = self._clock()
        if now >= row.validity_until:
            await self._finish(row, Status.EXPIRED, "validity ended before submission")
            return
        if row.time_scheduled is not None and await self._opted_out_since(row):
            await self._finish(row, Status.BLACKLISTED, "the recipient opted out before sending")
            return
        if row.sandbox:
            await self._finish(
                row, Status.DELIVERED, Status.DELIVERED.description, time_submitted=now
            )
            return
        chosen = await self._wait_for_route(row.recipient)
        if chosen is None:
            await self._writer.write(
                lambda c: store.release_claim(c, row.id, now + self._settings.no_route_retry)
            )
            return
        carrier, config = chosen
        encoding = Encoding.TEXT if row.encoding == "TEXT" else Encoding.UNICODE
        parts = build_parts(encode_text(row.body, encoding), config.concatenation, row.concat_ref)
        done: set[int] = set()
        if row.attempts:
            done = await self._writer.write(lambda c: store.submitted_parts(c, row.id))
        sender = row.sender or config.bulk_sender
        common = {
            **source_address(sender),
            "destination_addr": row.recipient,
            "dest_addr_ton": 1,
            "dest_addr_npi": 1,
            "registered_delivery": 1,
            "validity_period": smpp_time(row.validity_until),
            "replace_if_present_flag": 1 if row.replace_if_present else 0,
            "data_coding": 0 if encoding is Encoding.TEXT else 8,
        }
        for number, part in enumerate(parts, start=1):
            if number in done:
                continue
            fields: dict[str, Any] = {
                **common,
                "short_message": part.short_message,
                "esm_class": part.esm_class,
                **part.tlvs,
            }
            async with carrier.unrecorded:
                if not self._claim_lasts(row, config):
                    log.info(
                        "message %s: its claim ends too soon to submit; left to a new claim", row.id
                    )
                    return
                result = await carrier.submit(fields)
                if result.outcome is Outcome.REJECTED:
                    await self._finish(
                        row,
                        Status.REJECTED,
                        result.reason,
                        smpp_status=result.status,
                        carrier=config.name,
                    )
                    return
                if result.outcome is Outcome.RETRY:
                    await self._retry(row, result.reason)
                    return
                await self._record(row, number, config, result.message_id or "", len(parts))

    async def _record(
        self, row: Row, number: int, config: CarrierConfig, carrier_id: str, parts: int
    ) -> None:
        """Record a part the carrier accepted, however often the write fails: retry the
        write, never the submit (the message stays claimed, its carrier slot held)."""
        delay, longest = self._settings.record_retry_s
        failures = 0
        while True:
            try:
                await self._receipts.record_part(row, number, config, carrier_id, number == parts)
                break
            except WriterClosed:
                raise
            except Exception:
                failures += 1
                log.exception(
                    "message %s: part %d/%d, accepted by %s as %r, could not be recorded "
                    "(failure %d); writing it again in %.2fs, not submitting it again",
                    row.id,
                    number,
                    parts,
                    config.name,
                    carrier_id,
                    failures,
                    delay,
                )
            await trio.sleep(delay)
            delay = min(delay * 2, longest)
        if failures:
            log.warning("message %s: part %d recorded after %d failures", row.id, number, failures)

    def _claim_lasts(self, row: Row, carrier: CarrierConfig) -> bool:
        """Whether this node's claim on `row` outlasts a submit and its record: past its end
        another node may claim the message and send it too."""
        left = row.claimed_until - self._clock()
        return left > timedelta(seconds=submit_margin_s(carrier))

    async def _opted_out_since(self, row: Row) -> bool:
        """A scheduled message's recipient may have texted STOP since it was accepted."""
        app = self._holder.current.directory.by_name.get(row.application)
        if app is None or not app.account.blacklist:
            return False
        found = await self._writer.write(
            lambda c: blacklist_store.blacklisted_among(c, row.account, [row.recipient])
        )
        return bool(found)

    async def _wait_for_route(self, msisdn: str):
        """A carrier for `msisdn`, waiting while every carrier of its route is down (a flap, an
        outage): holding the claim is cheaper than handing it back and claiming it again."""
        chosen = self._choose_carrier(msisdn)
        if chosen is not None:  # the usual case, without the cost of a cancel scope
            return chosen
        with trio.move_on_after(self._settings.no_route_wait_s):
            while (chosen := self._choose_carrier(msisdn)) is None:
                await self._carriers.wait_changed()
            return chosen
        return None

    def _choose_carrier(self, msisdn: str):
        snapshot = self._holder.current
        if self._routes is None or self._routes_generation != snapshot.generation:
            self._routes = Routes(snapshot.config)
            self._routes_generation = snapshot.generation
        for name in self._routes.carriers_for(msisdn):
            found = self._carriers.get(name)
            if found and found[0].healthy():
                return found
        return None

    async def _finish(self, row: Row, status: Status, description: str, **values: Any) -> None:
        def finish(connection: Connection) -> None:
            now = self._clock()
            updated = store.set_status(
                connection,
                row.id,
                status=int(status),
                status_description=description[:255],
                time_done=now,
                next_attempt_at=None,
                claimed_by=None,
                claimed_until=None,
                **values,
            )
            self._emit(connection, updated, now)

        await self._writer.write(finish)
        if self._on_status is not None:
            self._on_status(row.application, values.get("carrier") or "", status)

    async def _retry(self, row: Row, reason: str) -> None:
        delay = min(2 ** min(row.attempts, 10), self._settings.max_retry_delay_s)
        log.info("message %s back to the queue for %.0fs: %s", row.id, delay, reason)
        await self._writer.write(
            lambda c: store.release_claim(
                c, row.id, self._clock() + timedelta(seconds=delay), attempts=row.attempts + 1
            )
        )

    def _emit(self, connection: Connection, message: Row | None, now: datetime) -> None:
        if message is None:
            return
        poll, jobs = status_events_in(self._holder.current.directory, message._mapping, now)
        store.add_events(connection, poll, jobs)
