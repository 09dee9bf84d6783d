"""Claiming due work safely when several nodes share one database.

A row is due when its `next_attempt_at` has passed and no live lease holds it. Claiming
sets a lease (`claimed_by`: the claiming instance, `claimed_until`); an instance that dies
lets its leases run out, or its claims are handed back once its own lease has (instances.py).
On PostgreSQL the candidate rows are locked with FOR UPDATE SKIP LOCKED, so two nodes claiming
at once take disjoint rows; SQLite has a single writer, which gives the same.
"""

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, Row, Table, and_, or_, select, true, update

from gatewayd.storage.tables import messages, outbox


def claim_due(
    connection: Connection,
    table: Table,
    *,
    node: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    where: ColumnElement[bool] | None = None,
) -> list[Row]:
    """Lease up to `limit` due rows of `table` to `node`; return them as claimed."""
    due = and_(
        table.c.next_attempt_at <= now,
        or_(table.c.claimed_until.is_(None), table.c.claimed_until < now),
        where if where is not None else true(),
    )
    candidates = (
        select(table.c.id)
        .where(due)
        .order_by(table.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = connection.execute(candidates).scalars().all()
    if not ids:
        return []
    claimed = connection.execute(
        update(table)
        .where(table.c.id.in_(ids))
        .values(claimed_by=node, claimed_until=now + lease)
        .returning(*table.c)
    ).all()
    return sorted(claimed, key=lambda row: row.next_attempt_at)


def release_claims_of(connection: Connection, *holders: str) -> None:
    """What these instances held is free again at once (they stopped, or they are dead)."""
    for table in (messages, outbox):
        connection.execute(
            update(table)
            .where(table.c.claimed_by.in_(holders))
            .values(claimed_by=None, claimed_until=None)
        )
