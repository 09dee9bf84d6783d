"""Delivery receipts meet submitted parts: in either order, never dropped.

A part is recorded as soon as its submit_sm_resp arrives; a receipt looks the part up by the
carrier's message id (see carrier_ids). A receipt that finds no part is stored unmatched; when
the part is recorded later (the receipt overtook the response) it is applied then. A message
is Delivered when all its parts are, and fails as soon as one part fails.
"""

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, Row

from gatewayd.config.holder import ConfigHolder
from gatewayd.config.schema import CarrierConfig
from gatewayd.core.carrier_ids import lookup_keys, storage_key
from gatewayd.core.events import status_events
from gatewayd.core.receipts import STATUS_OF_STATE, Receipt, ReceiptState
from gatewayd.core.statuses import Status
from gatewayd.storage import messages as store
from gatewayd.storage.writer import Writer

log = logging.getLogger(__name__)
StatusCallback = Callable[[str, str, Status], None]


class ReceiptMatcher:
    def __init__(
        self,
        holder: ConfigHolder,
        writer: Writer,
        clock: Callable[[], datetime],
        on_status: StatusCallback | None = None,
        on_receipt: Callable[[str, float], None] | None = None,
    ):
        self._holder = holder
        self._writer = writer
        self._clock = clock
        self._on_status = on_status
        self._on_receipt = on_receipt
        self.unmatched = 0

    def _id_format(self, carrier: str) -> str:
        for config in self._holder.current.config.carriers:
            if config.name == carrier:
                return config.message_id_format
        return "auto"

    async def record_part(
        self,
        message: Row,
        part_no: int,
        carrier: CarrierConfig,
        carrier_id: str,
        then: Callable[[Connection], None] | None = None,
    ) -> None:
        """Record a submitted part (and apply receipts that came first); `then` runs in the
        same transaction (the dispatcher marks the message Submitted with its last part)."""
        mode = carrier.message_id_format
        key = storage_key(carrier_id, mode)

        finals: list[tuple[str, str, Status]] = []

        def record(connection: Connection) -> None:
            finals.clear()
            now = self._clock()
            store.record_part(
                connection,
                {
                    "message_id": message.id,
                    "part_no": part_no,
                    "carrier": carrier.name,
                    "carrier_message_id": carrier_id,
                    "carrier_id_key": key,
                    "state": "submitted",
                    "time_submitted": now,
                },
            )
            candidates = lookup_keys(carrier_id, mode) if mode == "auto" else [key]
            for early in store.unmatched_receipts(connection, carrier.name, candidates):
                store.mark_receipt_matched(connection, early.id, now)
                if early.state in _FINAL_STATES:
                    state = ReceiptState(early.state)
                    self._apply(
                        connection,
                        message.id,
                        part_no,
                        state,
                        early.error,
                        now,
                        carrier.name,
                        finals,
                    )
            if then is not None:
                then(connection)

        await self._writer.write(record)
        self._report(finals)

    async def apply(self, carrier: str, receipt: Receipt, raw: str) -> bool:
        """Store and apply one receipt; False when no submitted part matches it (yet)."""
        keys = lookup_keys(receipt.message_id, self._id_format(carrier))

        finals: list[tuple[str, str, Status]] = []
        latency: list[float] = []

        def apply(connection: Connection) -> bool:
            finals.clear()
            latency.clear()
            now = self._clock()
            part = store.parts_for_receipt(connection, carrier, keys)
            if part is None:
                # Kept until its part is recorded (it overtook the submit_sm_resp) or for
                # an operator to look at; a matched receipt lives on in its part's state.
                store.store_receipt(
                    connection,
                    {
                        "carrier": carrier,
                        "carrier_message_id": receipt.message_id,
                        "carrier_id_key": keys[0],
                        "state": receipt.state.value,
                        "error": receipt.error,
                        "raw": raw[:1000],
                        "time_received": now,
                    },
                )
                return False
            if receipt.final:
                latency.append((now - part.time_submitted).total_seconds())
                self._apply(
                    connection,
                    part.message_id,
                    part.part_no,
                    receipt.state,
                    receipt.error,
                    now,
                    carrier,
                    finals,
                )
            return True

        matched = await self._writer.write(apply)
        self._report(finals)
        if self._on_receipt is not None and latency:
            self._on_receipt(carrier, latency[0])
        if not matched:
            self.unmatched += 1
            log.warning(
                "receipt from %s for unknown id %s stored unmatched (%s)",
                carrier,
                receipt.message_id,
                receipt.state.value,
            )
        return matched

    def _apply(
        self,
        connection: Connection,
        message_id: str,
        part_no: int,
        state: ReceiptState,
        error: str | None,
        now: datetime,
        carrier: str,
        finals: list[tuple[str, str, Status]],
    ) -> None:
        delivered = state is ReceiptState.DELIVERED
        store.set_part_state(
            connection, message_id, part_no, "delivered" if delivered else "failed", error, now
        )
        message = store.get_message(connection, message_id)
        if message is None or Status(message.status).final:
            return
        if not delivered:
            status = STATUS_OF_STATE[state]
            description = f"{status.description} (receipt {state.value}, err {error or '-'})"
        else:
            if message.number_of_parts > 1:
                states = store.part_states(connection, message_id)
                if len(states) < message.number_of_parts or any(s != "delivered" for s in states):
                    return
            status, description = Status.DELIVERED, Status.DELIVERED.description
        updated = store.set_status(
            connection,
            message_id,
            status=int(status),
            status_description=description[:255],
            time_done=now,
            time_submitted=message.time_submitted or now,
        )
        app = self._holder.current.directory.by_name.get(message.application)
        poll, jobs = status_events(updated._mapping, app, now)
        store.add_events(connection, poll, jobs)
        finals.append((message.application, carrier, status))

    def _report(self, finals: list[tuple[str, str, Status]]) -> None:
        """Count final statuses once their transaction has committed."""
        if self._on_status is not None:
            for application, carrier, status in finals:
                self._on_status(application, carrier, status)


_FINAL_STATES = {state.value for state in STATUS_OF_STATE}
