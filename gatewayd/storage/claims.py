"""Claiming due work safely when several nodes share one database.

A row is due when its `next_attempt_at` has passed and no live lease holds it. Claiming
sets a lease (`claimed_by`: the claiming instance, `claimed_until`); an instance that dies
lets its leases run out, or its claims are handed back once its own lease has (instances.py).
On PostgreSQL the candidate rows are locked with FOR UPDATE SKIP LOCKED, so two nodes claiming
at once take disjoint rows; SQLite has a single writer, which gives the same.
"""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Row,
    Table,
    and_,
    bindparam,
    or_,
    select,
    true,
    update,
)

from gatewayd.storage.prepared import Prepared
from gatewayd.storage.tables import messages, outbox


class Claim:
    """Leasing the due rows of `table` that `where` also selects (its bound parameters given
    at each claim) to a node, oldest first (within each `priority`, highest first, when the
    table has one): one statement, prepared once."""

    def __init__(
        self,
        table: Table,
        where: ColumnElement[bool] | None = None,
        priority: Column[int] | None = None,
    ) -> None:
        now = bindparam("now")
        due = and_(
            table.c.next_attempt_at <= now,
            or_(table.c.claimed_until.is_(None), table.c.claimed_until < now),
            where if where is not None else true(),
        )
        candidates = (
            select(table.c.id)
            .where(due)
            .order_by(*([priority.desc()] if priority is not None else []), table.c.next_attempt_at)
            .limit(bindparam("limit"))
            .with_for_update(skip_locked=True)
        )
        self._statement = Prepared(
            update(table)
            .where(table.c.id.in_(candidates))
            .values(claimed_by=bindparam("node"), claimed_until=bindparam("until"))
            .returning(*table.c)
        )
        self._order = (
            (lambda row: (-row.priority, row.next_attempt_at))
            if priority is not None
            else (lambda row: row.next_attempt_at)
        )

    def __call__(
        self,
        connection: Connection,
        *,
        node: str,
        now: datetime,
        lease: timedelta,
        limit: int,
        **where_values: Any,
    ) -> list[Row]:
        """Lease up to `limit` due rows to `node`; return them as claimed."""
        claimed = self._statement.rows(
            connection, node=node, until=now + lease, now=now, limit=limit, **where_values
        )
        return sorted(claimed, key=self._order)


def release_claims_of(connection: Connection, *holders: str) -> None:
    """What these instances held is free again at once (they stopped, or they are dead)."""
    for table in (messages, outbox):
        connection.execute(
            update(table)
            .where(table.c.claimed_by.in_(holders))
            .values(claimed_by=None, claimed_until=None)
        )
