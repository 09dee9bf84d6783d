"""Queries on outgoing messages, their parts and delivery receipts."""

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, and_, func, insert, select, update

from gatewayd.core.statuses import Status
from gatewayd.storage.claims import claim_due
from gatewayd.storage.tables import message_parts, messages, outbox, poll_queue, receipts

WAITING = (int(Status.QUEUED), int(Status.SCHEDULED))


def insert_messages(connection: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        connection.execute(insert(messages), rows)


def add_events(
    connection: Connection, poll_rows: Iterable[dict], outbox_rows: Iterable[dict]
) -> None:
    poll_rows, outbox_rows = list(poll_rows), list(outbox_rows)
    if poll_rows:
        connection.execute(insert(poll_queue), poll_rows)
    if outbox_rows:
        connection.execute(insert(outbox), outbox_rows)


def get_message(connection: Connection, message_id: str) -> Row | None:
    return connection.execute(select(messages).where(messages.c.id == message_id)).first()


def claim_due_messages(
    connection: Connection, node: str, now: datetime, lease: timedelta, limit: int
) -> list[Row]:
    return claim_due(
        connection,
        messages,
        node=node,
        now=now,
        lease=lease,
        limit=limit,
        where=messages.c.status.in_(WAITING),
    )


def set_status(connection: Connection, message_id: str, **values: Any) -> Row | None:
    """Update a message and return it as it now is."""
    return connection.execute(
        update(messages).where(messages.c.id == message_id).values(**values).returning(*messages.c)
    ).first()


def set_status_if_waiting(connection: Connection, message_id: str, **values: Any) -> Row | None:
    """Update a message still waiting to be sent; the updated row, or None if it was not."""
    return connection.execute(
        update(messages)
        .where(messages.c.id == message_id, messages.c.status.in_(WAITING))
        .values(**values)
        .returning(*messages.c)
    ).first()


def cancel_if_waiting(connection: Connection, message_id: str, values: Mapping) -> Row | None:
    """Cancel a message only while nothing of it has been submitted; the row, or None."""
    return connection.execute(
        update(messages)
        .where(
            messages.c.id == message_id,
            messages.c.status.in_(WAITING),
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


def submitted_parts(connection: Connection, message_id: str) -> set[int]:
    query = select(message_parts.c.part_no).where(message_parts.c.message_id == message_id)
    return set(connection.execute(query).scalars())


def record_part(connection: Connection, row: dict[str, Any]) -> None:
    connection.execute(insert(message_parts).values(**row))


def parts_for_receipt(connection: Connection, carrier: str, keys: list[str]) -> Row | None:
    """The submitted part a receipt is for: the first key (best reading) that matches."""
    rows = connection.execute(
        select(message_parts).where(
            message_parts.c.carrier == carrier, message_parts.c.carrier_id_key.in_(keys)
        )
    ).all()
    for key in keys:
        for row in rows:
            if row.carrier_id_key == key:
                return row
    return None


def set_part_state(
    connection: Connection,
    message_id: str,
    part_no: int,
    state: str,
    error: str | None,
    now: datetime,
) -> None:
    connection.execute(
        update(message_parts)
        .where(message_parts.c.message_id == message_id, message_parts.c.part_no == part_no)
        .values(state=state, error=error, time_done=now)
    )


def part_states(connection: Connection, message_id: str) -> list[str]:
    query = select(message_parts.c.state).where(message_parts.c.message_id == message_id)
    return list(connection.execute(query).scalars())


def store_receipt(connection: Connection, row: dict[str, Any]) -> None:
    connection.execute(insert(receipts).values(**row))


def unmatched_receipts(connection: Connection, carrier: str, keys: list[str]) -> list[Row]:
    return connection.execute(
        select(receipts)
        .where(
            receipts.c.carrier == carrier,
            receipts.c.carrier_id_key.in_(keys),
            receipts.c.time_matched.is_(None),
        )
        .order_by(receipts.c.id)
    ).all()


def mark_receipt_matched(connection: Connection, receipt_id: int, now: datetime) -> None:
    connection.execute(update(receipts).where(receipts.c.id == receipt_id).values(time_matched=now))


def fetch_poll(
    connection: Connection, application: str, kind: str, limit: int, now: datetime
) -> tuple[list[dict], int]:
    """Hand out up to `limit` records not fetched before, oldest first; and how many remain."""
    waiting = and_(
        poll_queue.c.application == application,
        poll_queue.c.kind == kind,
        poll_queue.c.time_fetched.is_(None),
    )
    rows = connection.execute(
        select(poll_queue.c.id, poll_queue.c.record)
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
    return [row.record for row in rows], remaining


def end_overdue_submissions(
    connection: Connection, validity_before: datetime, limit: int = 500, **values: Any
) -> list[Row]:
    """Give Submitted messages whose validity ended before `validity_before` their final
    values; a conditional update, so two nodes never end the same message twice."""
    overdue = (
        select(messages.c.id)
        .where(
            messages.c.status == int(Status.SUBMITTED), messages.c.validity_until < validity_before
        )
        .limit(limit)
        .scalar_subquery()
    )
    return connection.execute(
        update(messages)
        .where(messages.c.id.in_(overdue), messages.c.status == int(Status.SUBMITTED))
        .values(**values)
        .returning(*messages.c)
    ).all()
