"""Delivery receipts meet submitted parts: in either order, never dropped.

A part is recorded as soon as its submit_sm_resp arrives; a receipt looks the part up by the
carrier's message id (see carrier_ids). Carriers reuse ids (counters wrap, SMSCs restart), so
a receipt is for the part that can still take one: not final, within the receipt horizon,
submitted last. A receipt that finds no part is stored unmatched; when the part is recorded
within `receipt_wait` (the receipt overtook the response) it is applied then; past that it
expires, and never attaches to a later message that reuses the id. A message is Delivered
when all its parts are, and fails as soon as one part fails.

Both steps are bulk operations of the writer: the parts recorded and the receipts received
while one transaction was being written are written together by the next, a few statements
for the whole batch rather than a few per message.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row

from gatewayd.config.holder import ConfigHolder
from gatewayd.config.schema import CarrierConfig
from gatewayd.core.carrier_ids import lookup_keys, storage_key
from gatewayd.core.lifecycle import Transitions
from gatewayd.core.periodic_sweep import PeriodicSweep
from gatewayd.core.receipt_deadline import RECEIPT_GRACE
from gatewayd.core.receipts import STATUS_OF_STATE, Receipt, ReceiptState
from gatewayd.core.statuses import Status, StatusCallback
from gatewayd.storage import messages as store
from gatewayd.storage.writer import Writer

log = logging.getLogger(__name__)
Final = tuple[str, str, Status]


@dataclass(frozen=True)
class SubmittedPart:
    """A part the carrier accepted; with the last part its message becomes Submitted."""

    message: Row
    part_no: int
    carrier: CarrierConfig
    carrier_id: str
    last: bool
    time_sent: datetime | None = None
    """When its submit_sm went out (None: not known)."""
    time_responded: datetime | None = None
    """When its submit_sm_resp came (None: not known, the time it is recorded)."""


@dataclass(frozen=True)
class ReceivedReceipt:
    carrier: str
    keys: list[str]
    receipt: Receipt
    raw: str
    time_received: datetime
    """When its deliver_sm came, not when a batch wrote it."""


@dataclass(frozen=True)
class _FinalReceipt:
    """A final receipt matched to its part (a stored row, or one recorded in this batch)."""

    part: Any
    state: ReceiptState
    error: str | None
    carrier: str
    time_received: datetime


@dataclass
class _Applied:
    matched: bool = False
    latency_s: float | None = None
    finals: list[Final] = field(default_factory=list)


@dataclass
class _Outcomes:
    """What one transaction decided: the messages it read, the transitions it asks for."""

    transitions: Transitions
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def now(self) -> datetime:
        return self.transitions.now

    def finals_by_item(self, connection: Connection, message_ids: list[str]) -> list[list[Final]]:
        """Apply the transitions; what each item (of the message id given for it) reached,
        each transition counted with the first item of its message."""
        self.transitions.apply(connection)
        reached: dict[str, list[Final]] = {}
        for change in self.transitions.reached:
            reached.setdefault(change.message_id, []).append(change.counted)
        return [reached.pop(message_id, []) for message_id in message_ids]


class ReceiptMatcher:
    def __init__(
        self,
        holder: ConfigHolder,
        writer: Writer,
        clock: Callable[[], datetime],
        on_status: StatusCallback | None = None,
        on_receipt: Callable[[str, float], None] | None = None,
        receipt_wait: timedelta = timedelta(minutes=5),
    ):
        self._holder = holder
        self._receipt_wait = receipt_wait
        self._writer = writer
        self._clock = clock
        self._on_status = on_status
        self._on_receipt = on_receipt
        self._parts = _RecordParts(self)
        self._receipts = _ApplyReceipts(self)
        self.expiry = _UnmatchedReceipts(self)
        self.unmatched = 0
        """Receipts that waited `receipt_wait` for their part in vain."""

    def _id_format(self, carrier: str) -> str:
        for config in self._holder.current.config.carriers:
            if config.name == carrier:
                return config.message_id_format
        return "auto"

    async def record_parts(self, parts: list[SubmittedPart]) -> list[BaseException | None]:
        """Record submitted parts (and apply receipts that came first); with its last part a
        message becomes Submitted, unless a receipt already made it final. Each part is an item
        of the writer's bulk of its own, so one the storage cannot take fails alone: for each
        part, None once recorded or the exception its write failed with."""
        results = await self._writer.write_bulk_many(self._parts, parts, urgent=False)
        for part, result in zip(parts, results, strict=True):
            if isinstance(result, BaseException):
                continue
            finals, receipted_first = result
            self._report(finals)
            if receipted_first and self._on_receipt is not None:
                # Its receipt overtook the submit_sm_resp: counted, with no latency to tell.
                self._on_receipt(part.carrier.name, 0.0)
        return [result if isinstance(result, BaseException) else None for result in results]

    async def apply(self, carrier: str, receipt: Receipt, raw: str) -> bool:
        """Store and apply one receipt; False when no submitted part matches it (yet)."""
        item = self.received(carrier, receipt, raw)
        applied: _Applied = await self._writer.write_bulk(self._receipts, item)
        self.report([item], [applied])
        return applied.matched

    def received(self, carrier: str, receipt: Receipt, raw: str) -> ReceivedReceipt:
        """A receipt as `apply_in` takes it: with the keys its part may be stored under."""
        keys = lookup_keys(receipt.message_id, self._id_format(carrier))
        return ReceivedReceipt(carrier, keys, receipt, raw, self._clock())

    def apply_in(self, connection: Connection, items: list[ReceivedReceipt]) -> list[_Applied]:
        """Store and apply receipts inside the caller's transaction (a bulk operation of the
        writer that writes more than receipts); `report` them once it has committed."""
        return self._receipts.run_bulk(connection, items)

    def report(self, items: list[ReceivedReceipt], applied: list[_Applied]) -> None:
        """What committed receipts did: final statuses counted, receipt latencies."""
        for item, outcome in zip(items, applied, strict=True):
            self._report(outcome.finals)
            if self._on_receipt is not None and outcome.latency_s is not None:
                self._on_receipt(item.carrier, outcome.latency_s)
            if not outcome.matched:
                # Usually a receipt that overtook its submit_sm_resp, matched when the part
                # is recorded; one per message under load, so not a warning.
                log.debug(
                    "receipt from %s for unknown id %s stored unmatched (%s)",
                    item.carrier,
                    item.receipt.message_id,
                    item.receipt.state.value,
                )

    def _outcomes(self, now: datetime) -> _Outcomes:
        return _Outcomes(Transitions(self._holder.current.directory, now))

    def _decide(
        self, outcomes: _Outcomes, final: _FinalReceipt, states: dict[str, list[str]]
    ) -> None:
        """A final receipt for a part: its message's new status, if the message has one now."""
        part, state, error = final.part, final.state, final.error
        delivered = state is ReceiptState.DELIVERED
        message = outcomes.messages.get(part.message_id)
        if message is None or Status(message["status"]).final:
            return
        if not delivered:
            status = STATUS_OF_STATE[state]
            description = f"{status.description} (receipt {state.value}, err {error or '-'})"
        else:
            if message["number_of_parts"] > 1:
                mine = states.get(part.message_id, [])
                if len(mine) < message["number_of_parts"] or any(s != "delivered" for s in mine):
                    return
            status, description = Status.DELIVERED, Status.DELIVERED.description
        message["status"] = int(status)
        outcomes.transitions.ask(
            part.message_id, status, description, carrier=final.carrier, submitted=True
        )

    def _apply_finals(
        self, connection: Connection, outcomes: _Outcomes, applied: list[_FinalReceipt]
    ) -> None:
        """Apply final receipts in one go: part states, then the messages' new statuses are
        asked for (written by the caller with the rest of its transitions)."""
        store.set_part_states(
            connection,
            [
                {
                    "b_message_id": final.part.message_id,
                    "b_part_no": final.part.part_no,
                    "state": "delivered" if final.state is ReceiptState.DELIVERED else "failed",
                    "error": final.error,
                    "time_done": final.time_received,
                }
                for final in applied
            ],
        )
        outcomes.messages.update(
            store.messages_by_id(connection, {final.part.message_id for final in applied})
        )
        multipart = [
            message_id
            for message_id, message in outcomes.messages.items()
            if message["number_of_parts"] > 1
        ]
        states = store.part_states(connection, multipart) if multipart else {}
        for final in applied:
            self._decide(outcomes, final, states)

    def _report(self, finals: list[Final]) -> None:
        """Count final statuses once their transaction has committed."""
        if self._on_status is not None:
            for application, carrier, status in finals:
                self._on_status(application, carrier, status)


class _RecordParts:
    """Bulk: record submitted parts, mark last parts Submitted, apply early receipts. An
    item is a part; its result, the finals of that part and whether a final receipt that
    came first was applied to it."""

    first = True
    """Run before the other kinds of a batch: receipts in it then find their parts."""

    def __init__(self, matcher: ReceiptMatcher) -> None:
        self._matcher = matcher

    def run_bulk(
        self, connection: Connection, parts: list[SubmittedPart]
    ) -> list[tuple[list[Final], bool]]:
        matcher = self._matcher
        now = matcher._clock()
        outcomes = matcher._outcomes(now)
        candidates = [self._candidates(part) for part in parts]
        store.record_parts(
            connection,
            [
                {
                    "message_id": part.message.id,
                    "part_no": part.part_no,
                    "carrier": part.carrier.name,
                    "carrier_message_id": part.carrier_id,
                    "carrier_id_key": keys[0],
                    "state": "submitted",
                    "time_sent": part.time_sent,
                    "time_submitted": part.time_responded or now,
                }
                for part, keys in zip(parts, candidates, strict=True)
            ],
        )
        early = self._early_receipts(connection, parts, candidates, now)
        # Submitted first, even when a receipt overtook the submit_sm_resp: the application
        # gets every status of its message, in the order they happened (Transitions writes
        # Submitted before final statuses).
        self._mark_submitted(parts, outcomes)
        if early:
            matcher._apply_finals(connection, outcomes, early)
        receipted = {(final.part.message_id, final.part.part_no) for final in early}
        reached = outcomes.finals_by_item(connection, [part.message.id for part in parts])
        return [
            (finals, (part.message.id, part.part_no) in receipted)
            for part, finals in zip(parts, reached, strict=True)
        ]

    @staticmethod
    def _candidates(part: SubmittedPart) -> list[str]:
        """The key the part is stored under first, then the other readings of its id that
        an early receipt may have been stored under."""
        mode = part.carrier.message_id_format
        key = storage_key(part.carrier_id, mode)
        if mode != "auto":
            return [key]
        return [key] + [k for k in lookup_keys(part.carrier_id, mode) if k != key]

    def _early_receipts(
        self,
        connection: Connection,
        parts: list[SubmittedPart],
        candidates: list[list[str]],
        now: datetime,
    ) -> list[_FinalReceipt]:
        """Receipts that overtook their part's submit_sm_resp: the final ones; every one
        found is marked matched."""
        by_carrier: dict[str, set[str]] = {}
        for part, keys in zip(parts, candidates, strict=True):
            by_carrier.setdefault(part.carrier.name, set()).update(keys)
        waiting: dict[tuple[str, str], list[Row]] = {}
        for carrier, keys in by_carrier.items():
            waiting_since = now - self._matcher._receipt_wait
            for receipt in store.unmatched_receipts(connection, carrier, keys, waiting_since):
                waiting.setdefault((carrier, receipt.carrier_id_key), []).append(receipt)
        if not waiting:
            return []
        found: list[tuple[int, Row]] = []
        for index, (part, keys) in enumerate(zip(parts, candidates, strict=True)):
            carrier = part.carrier.name
            mine = {r.id: r for key in keys for r in waiting.get((carrier, key), [])}
            found += [(index, mine[receipt_id]) for receipt_id in sorted(mine)]
        marked = store.mark_receipts_matched(connection, [r.id for _, r in found], now)
        early: list[_FinalReceipt] = []
        for index, receipt in found:
            if receipt.id in marked and receipt.state in _FINAL_STATES:
                part = parts[index]
                recorded = _RecordedPart(part.message.id, part.part_no)
                state = ReceiptState(receipt.state)
                early.append(
                    _FinalReceipt(
                        recorded, state, receipt.error, part.carrier.name, receipt.time_received
                    )
                )
        return early

    @staticmethod
    def _mark_submitted(parts: list[SubmittedPart], outcomes: _Outcomes) -> None:
        """With its last part a message becomes Submitted (one a receipt of an earlier part
        already made final stays as it is)."""
        for part in (part for part in parts if part.last):
            outcomes.transitions.ask(part.message.id, Status.SUBMITTED, carrier=part.carrier.name)


@dataclass(frozen=True)
class _RecordedPart:
    """A part recorded in this batch, as the final-status logic reads it."""

    message_id: str
    part_no: int


class _ApplyReceipts:
    """Bulk: match receipts to parts; apply the final ones; keep the rest unmatched."""

    def __init__(self, matcher: ReceiptMatcher) -> None:
        self._matcher = matcher

    def run_bulk(self, connection: Connection, items: list[ReceivedReceipt]) -> list[_Applied]:
        now = self._matcher._clock()
        outcomes = self._matcher._outcomes(now)
        parts = self._parts(connection, items, now)
        results = [_Applied() for _ in items]
        unmatched: list[dict[str, Any]] = []
        applied: list[_FinalReceipt] = []
        for index, (item, part) in enumerate(zip(items, parts, strict=True)):
            if part is None:
                # Kept until its part is recorded (it overtook the submit_sm_resp) or for
                # an operator to look at; a matched receipt lives on in its part's state.
                unmatched.append(_receipt_row(item))
                continue
            results[index].matched = True
            if item.receipt.final:
                received = item.time_received
                results[index].latency_s = (received - part.time_submitted).total_seconds()
                receipt = item.receipt
                applied.append(
                    _FinalReceipt(part, receipt.state, receipt.error, item.carrier, received)
                )
        store.store_receipts(connection, unmatched)
        if applied:
            self._matcher._apply_finals(connection, outcomes, applied)
            ids = [part.message_id if part else "" for part in parts]
            reached = outcomes.finals_by_item(connection, ids)
            for result, finals in zip(results, reached, strict=True):
                result.finals = finals
        return results

    @staticmethod
    def _parts(
        connection: Connection, items: list[ReceivedReceipt], now: datetime
    ) -> list[Row | None]:
        """The part each receipt is for: the first key (best reading) under which a part
        awaits a receipt."""
        keys_by_carrier: dict[str, set[str]] = {}
        for item in items:
            keys_by_carrier.setdefault(item.carrier, set()).update(item.keys)
        found = {
            carrier: store.parts_awaiting_receipt(connection, carrier, keys, now - RECEIPT_GRACE)
            for carrier, keys in keys_by_carrier.items()
        }
        parts: list[Row | None] = []
        for item in items:
            by_key = found[item.carrier]
            parts.append(next((by_key[key] for key in item.keys if key in by_key), None))
        return parts


class _UnmatchedReceipts(PeriodicSweep):
    """Receipts waiting for their part. One whose part is recorded by now was stored while
    another node was recording that part, neither transaction seeing the other's row: it is
    applied now. One that waited `receipt_wait` in vain stops waiting (counted as
    unmatched)."""

    def __init__(self, matcher: ReceiptMatcher, every_s: float = 1.0) -> None:
        super().__init__(matcher._writer, every_s)
        self._matcher = matcher

    async def sweep(self) -> int:
        """How many receipts stopped waiting in vain."""
        expired, finals = await super().sweep()
        self._matcher._report(finals)
        self._matcher.unmatched += expired
        if expired:
            log.info("%d receipts matched no submitted part in time; kept unmatched", expired)
        return expired

    def _sweep(self, connection: Connection) -> tuple[int, list[Final]]:
        """Receipts that stopped waiting, and the final statuses of those applied."""
        matcher = self._matcher
        now = matcher._clock()
        finals = self._apply_orphans(connection, now)
        return store.expire_unmatched_receipts(connection, now - matcher._receipt_wait, now), finals

    def _apply_orphans(self, connection: Connection, now: datetime) -> list[Final]:
        matcher = self._matcher
        orphans = store.orphaned_receipts(connection, now - matcher._receipt_wait)
        if not orphans:
            return []
        items = [
            ReceivedReceipt(
                row.carrier,
                [row.carrier_id_key],
                Receipt(row.carrier_message_id, ReceiptState(row.state), row.error),
                row.raw,
                row.time_received,
            )
            for row in orphans
        ]
        parts = _ApplyReceipts._parts(connection, items, now)
        found = [(row, part) for row, part in zip(orphans, parts, strict=True) if part]
        marked = store.mark_receipts_matched(connection, [row.id for row, _ in found], now)
        log.info(
            "%d receipts stored beside their part's record on another node applied", len(marked)
        )
        applied = [
            _FinalReceipt(part, ReceiptState(row.state), row.error, row.carrier, row.time_received)
            for row, part in found
            if row.id in marked and row.state in _FINAL_STATES
        ]
        if not applied:
            return []
        outcomes = matcher._outcomes(now)
        matcher._apply_finals(connection, outcomes, applied)
        ids = [final.part.message_id for final in applied]
        return [final for finals in outcomes.finals_by_item(connection, ids) for final in finals]


def _receipt_row(item: ReceivedReceipt) -> dict[str, Any]:
    return {
        "carrier": item.carrier,
        "carrier_message_id": item.receipt.message_id,
        "carrier_id_key": item.keys[0],
        "state": item.receipt.state.value,
        "error": item.receipt.error,
        "raw": item.raw[:1000],
        "time_received": item.time_received,
    }


_FINAL_STATES = {state.value for state in STATUS_OF_STATE}
