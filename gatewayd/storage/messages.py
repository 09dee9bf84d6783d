"""Queries on outgoing messages, their parts and delivery receipts."""

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Integer,
    Row,
    SmallInteger,
    String,
    and_,
    bindparam,
    func,
    or_,
    select,
    update,
)

from gatewayd.core.statuses import Status
from gatewayd.storage.bulk import insert_rows, update_rows
from gatewayd.storage.claims import Claim
from gatewayd.storage.outbox import add_jobs
from gatewayd.storage.prepared import Prepared
from gatewayd.storage.quotas import Charge, charge_all
from gatewayd.storage.tables import message_parts, messages, poll_queue, receipts
from gatewayd.storage.types import UtcDateTime

WAITING = (int(Status.QUEUED), int(Status.SCHEDULED))
Rows = tuple[list[dict[str, Any]], list[dict[str, Any]]]
Accepted = tuple[list[dict[str, Any]], Rows, list[Charge]]
"""An item of INSERT_ACCEPTED: the messages, the events of those dropped at once, and the
quota charges they take."""


def insert_messages(connection: Connection, rows: list[dict[str, Any]]) -> None:
    insert_rows(connection, messages, rows)


class InsertAccepted:
    """Accepted messages of many requests (and the events of those dropped at once) in one
    statement per table, each request's quota charges taken in the same transaction: the
    writer's bulk operation for every front door. Per request None (stored) or the charge
    that did not fit (nothing of that request stored)."""

    def run_bulk(self, connection: Connection, items: list[Accepted]) -> list[Charge | None]:
        refused = charge_all(connection, [charges for _, _, charges in items])
        stored = [item for item, refusal in zip(items, refused, strict=True) if refusal is None]
        insert_messages(connection, [row for rows, _, _ in stored for row in rows])
        add_events(
            connection,
            [row for _, (poll, _), _ in stored for row in poll],
            [row for _, (_, jobs), _ in stored for row in jobs],
        )
        return refused


INSERT_ACCEPTED = InsertAccepted()


def add_events(
    connection: Connection, poll_rows: Iterable[dict], outbox_rows: Iterable[dict]
) -> None:
    insert_rows(connection, poll_queue, list(poll_rows))
    add_jobs(connection, list(outbox_rows))


def get_message(connection: Connection, message_id: str) -> Row | None:
    return connection.execute(select(messages).where(messages.c.id == message_id)).first()


def last_reference_to(connection: Connection, application: str, recipient: str) -> str | None:
    """The Reference of the last message `application` sent to `recipient` (not in the
    sandbox): RingRing gives it to that user's incoming messages."""
    return connection.execute(
        select(messages.c.reference)
        .where(
            messages.c.application == application,
            messages.c.recipient == recipient,
            messages.c.sandbox.is_(False),
        )
        .order_by(messages.c.time_created.desc(), messages.c.id.desc())
        .limit(1)
    ).scalar()


_CLAIM_WAITING = Claim(messages, messages.c.status.in_(WAITING), messages.c.priority)


def claim_due_messages(
    connection: Connection, node: str, now: datetime, lease: timedelta, limit: int
) -> list[Row]:
    return _CLAIM_WAITING(connection, node=node, now=now, lease=lease, limit=limit)


_TRANSITION = Prepared(
    update(messages)
    .where(
        messages.c.id.in_(bindparam("ids", expanding=True)),
        messages.c.status.in_(bindparam("sources", expanding=True)),
        or_(messages.c.time_submitted.is_(None), bindparam("sent_too", type_=Boolean)),
    )
    .values(
        status=bindparam("status", type_=SmallInteger),
        status_description=bindparam("description", type_=String),
        time_submitted=func.coalesce(
            messages.c.time_submitted, bindparam("submitted_at", type_=UtcDateTime)
        ),
        time_done=bindparam("done_at", type_=UtcDateTime),
        carrier=func.coalesce(bindparam("carrier", type_=String), messages.c.carrier),
        smpp_status=func.coalesce(bindparam("smpp_status", type_=Integer), messages.c.smpp_status),
        next_attempt_at=None,
        claimed_by=None,
        claimed_until=None,
    )
    .returning(*messages.c)
)


def transition(
    connection: Connection,
    ids: list[str],
    sources: Iterable[int],
    *,
    unsent_only: bool,
    **values: Any,
) -> list[Any]:
    """Give those of `ids` whose status is one of `sources` (and, `unsent_only`, that have
    no submit time) the new status, description and done_at, a submit time (submitted_at)
    where they have none, the carrier and smpp_status when given; their claims let go. The
    rows as they now are."""
    return _TRANSITION.rows(
        connection, ids=ids, sources=list(sources), sent_too=not unsent_only, **values
    )


def overdue_submissions(connection: Connection, validity_before: datetime, limit: int) -> list[str]:
    """Submitted messages whose validity ended before `validity_before`."""
    query = (
        select(messages.c.id)
        .where(
            messages.c.status == int(Status.SUBMITTED), messages.c.validity_until < validity_before
        )
        .limit(limit)
    )
    return list(connection.execute(query).scalars())


def requeue_if_unsent(
    connection: Connection, message_id: str, statuses: Iterable[int], values: Mapping
) -> Row | None:
    """Queue a message again when its status is one of `statuses` and nothing of it reached a
    carrier; the row as it now is, or None."""
    return connection.execute(
        update(messages)
        .where(
            messages.c.id == message_id,
            messages.c.status.in_(list(statuses)),
            messages.c.time_submitted.is_(None),
        )
        .values(**values)
        .returning(*messages.c)
    ).first()


def release_claim(
    connection: Connection, message_id: str, next_attempt_at: datetime, **values: Any
) -> None:
    connection.execute(
        update(messages)
        .where(messages.c.id == message_id)
        .values(claimed_by=None, claimed_until=None, next_attempt_at=next_attempt_at, **values)
    )


def release_claims(connection: Connection, ids: list[str]) -> None:
    """Let go of messages a receipt already made final: nothing is due any more."""
    if ids:
        connection.execute(
            update(messages)
            .where(messages.c.id.in_(ids))
            .values(claimed_by=None, claimed_until=None, next_attempt_at=None)
        )


def submitted_parts(connection: Connection, message_id: str) -> set[int]:
    query = select(message_parts.c.part_no).where(message_parts.c.message_id == message_id)
    return set(connection.execute(query).scalars())


def record_parts(connection: Connection, rows: list[dict[str, Any]]) -> None:
    insert_rows(connection, message_parts, rows)


_PARTS_AWAITING_RECEIPT = Prepared(
    select(message_parts)
    .join(messages, messages.c.id == message_parts.c.message_id)
    .where(
        message_parts.c.carrier == bindparam("carrier"),
        message_parts.c.carrier_id_key.in_(bindparam("keys", expanding=True)),
        message_parts.c.state == "submitted",
        messages.c.validity_until > bindparam("validity_after"),
    )
    .order_by(message_parts.c.time_submitted, message_parts.c.message_id)
)


def parts_awaiting_receipt(
    connection: Connection, carrier: str, keys: Iterable[str], validity_after: datetime
) -> dict[str, Row]:
    """The part a receipt under each of `keys` is for: of the parts of `carrier` stored under
    that key that still wait for a final receipt and whose message's validity ended after
    `validity_after` (the receipt horizon), the one submitted last. Carriers reuse ids
    (counters wrap, SMSCs restart), so an older part under the same key is never it."""
    rows = _PARTS_AWAITING_RECEIPT.rows(
        connection, carrier=carrier, keys=set(keys), validity_after=validity_after
    )
    return {row.carrier_id_key: row for row in rows}


_MESSAGES_BY_ID = Prepared(
    select(messages).where(messages.c.id.in_(bindparam("ids", expanding=True)))
)


def messages_by_id(connection: Connection, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Messages as mutable mappings, by id (a bulk writer updates them as it decides)."""
    wanted = set(ids)
    if not wanted:
        return {}
    return {row.id: row._asdict() for row in _MESSAGES_BY_ID.rows(connection, ids=wanted)}


_PART_STATE_UPDATE = (
    update(message_parts)
    .where(
        message_parts.c.message_id == bindparam("b_message_id"),
        message_parts.c.part_no == bindparam("b_part_no"),
    )
    .values(state=bindparam("state"), error=bindparam("error"), time_done=bindparam("time_done"))
)


def set_part_states(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Rows of b_message_id, b_part_no, state, error, time_done."""
    update_rows(connection, _PART_STATE_UPDATE, rows)


def part_states(connection: Connection, message_ids: Iterable[str]) -> dict[str, list[str]]:
    query = select(message_parts.c.message_id, message_parts.c.state).where(
        message_parts.c.message_id.in_(set(message_ids))
    )
    states: dict[str, list[str]] = {}
    for message_id, state in connection.execute(query):
        states.setdefault(message_id, []).append(state)
    return states


def store_receipts(connection: Connection, rows: list[dict[str, Any]]) -> None:
    insert_rows(connection, receipts, rows)


_UNMATCHED_RECEIPTS = Prepared(
    select(receipts)
    .where(
        receipts.c.carrier == bindparam("carrier"),
        receipts.c.carrier_id_key.in_(bindparam("keys", expanding=True)),
        receipts.c.time_matched.is_(None),
        receipts.c.time_expired.is_(None),
        receipts.c.time_received >= bindparam("received_after"),
    )
    .order_by(receipts.c.id)
)


def unmatched_receipts(
    connection: Connection, carrier: str, keys: Iterable[str], received_after: datetime
) -> list[Row]:
    """Receipts of `carrier` under `keys` still waiting for their part, received after
    `received_after`."""
    wanted = set(keys)
    if not wanted:
        return []
    return _UNMATCHED_RECEIPTS.rows(
        connection, carrier=carrier, keys=wanted, received_after=received_after
    )


def expire_unmatched_receipts(
    connection: Connection, received_before: datetime, now: datetime, limit: int = 500
) -> int:
    """Receipts received before `received_before` that no part took stop waiting for one;
    how many did."""
    waiting = (
        select(receipts.c.id)
        .where(
            receipts.c.time_matched.is_(None),
            receipts.c.time_expired.is_(None),
            receipts.c.time_received < received_before,
        )
        .limit(limit)
        .scalar_subquery()
    )
    expired = connection.execute(
        update(receipts)
        .where(receipts.c.id.in_(waiting), receipts.c.time_expired.is_(None))
        .values(time_expired=now)
        .returning(receipts.c.id)
    )
    return len(expired.all())


def mark_receipts_matched(
    connection: Connection, receipt_ids: list[int], now: datetime
) -> set[int]:
    """Mark receipts matched; the ids this transaction marked. On PostgreSQL a receipt
    another node is matching at the same moment waits for that node's commit and is then
    not marked here again, so a receipt is applied once."""
    if not receipt_ids:
        return set()
    marked = connection.execute(
        update(receipts)
        .where(receipts.c.id.in_(receipt_ids), receipts.c.time_matched.is_(None))
        .values(time_matched=now)
        .returning(receipts.c.id)
    )
    return set(marked.scalars())


def orphaned_receipts(
    connection: Connection, received_after: datetime, limit: int = 500
) -> list[Row]:
    """Receipts still waiting for their part although a part under their key awaits a
    receipt: stored by one node while another was recording that part, neither transaction
    seeing the other's row (PostgreSQL, READ COMMITTED). Locked, skipping those another node's
    sweep holds."""
    has_part = (
        select(message_parts.c.message_id)
        .where(
            message_parts.c.carrier == receipts.c.carrier,
            message_parts.c.carrier_id_key == receipts.c.carrier_id_key,
            message_parts.c.state == "submitted",
        )
        .exists()
    )
    return connection.execute(
        select(receipts)
        .where(
            receipts.c.time_matched.is_(None),
            receipts.c.time_expired.is_(None),
            receipts.c.time_received >= received_after,
            has_part,
        )
        .order_by(receipts.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()


def fetch_poll(
    connection: Connection,
    application: str,
    kind: str,
    sandbox: bool,
    limit: int,
    now: datetime,
) -> tuple[list[Row], int]:
    """Hand out up to `limit` records not fetched before, oldest first; and how many remain.
    The sandbox's records go to the sandbox's polling only, live ones to live polling only.
    A row without a `record` is a status record to derive from its message."""
    waiting = and_(
        poll_queue.c.application == application,
        poll_queue.c.kind == kind,
        poll_queue.c.sandbox == sandbox,
        poll_queue.c.time_fetched.is_(None),
    )
    rows = connection.execute(
        select(
            poll_queue.c.id,
            poll_queue.c.record,
            poll_queue.c.message_id,
            poll_queue.c.status,
            poll_queue.c.status_description,
            poll_queue.c.status_time,
        )
        .where(waiting)
        .order_by(poll_queue.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if rows:
        connection.execute(
            update(poll_queue)
            .where(poll_queue.c.id.in_([r.id for r in rows]))
            .values(time_fetched=now)
        )
    remaining = connection.execute(select(func.count()).where(waiting)).scalar_one()
    return rows, remaining
