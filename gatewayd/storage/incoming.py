"""Incoming (mobile-originated) messages and the fragments of concatenated ones."""

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from gatewayd.storage.tables import incoming_messages, mo_fragments


def insert_incoming(connection: Connection, row: dict[str, Any]) -> None:
    connection.execute(insert(incoming_messages).values(**row))


def add_fragment(connection: Connection, row: dict[str, Any]) -> list[Row] | None:
    """Store a fragment (a repeat is ignored); all fragments once the set is complete."""
    with connection.begin_nested() as savepoint:
        try:
            connection.execute(insert(mo_fragments).values(**row))
        except IntegrityError:
            savepoint.rollback()
    count = connection.execute(select(func.count()).where(_group(row))).scalar_one()
    if count < row["total"]:
        return None
    return take_group(connection, row)


def take_group(connection: Connection, key: Any) -> list[Row]:
    """Remove and return the fragments of one message, in order."""
    group = _group(key)
    fragments = connection.execute(
        select(mo_fragments).where(group).order_by(mo_fragments.c.seq)
    ).all()
    connection.execute(delete(mo_fragments).where(group))
    return fragments


def _group(key: Any):
    """The fragments of one message; `key` is a fragment row (dict) or a group row."""

    def get(name: str) -> Any:
        return key[name] if isinstance(key, dict) else getattr(key, name)

    return (
        (mo_fragments.c.carrier == get("carrier"))
        & (mo_fragments.c.sender == get("sender"))
        & (mo_fragments.c.recipient == get("recipient"))
        & (mo_fragments.c.reference == get("reference"))
        & (mo_fragments.c.total == get("total"))
    )


def stale_fragment_groups(connection: Connection, before: datetime) -> list[Row]:
    """Groups whose oldest fragment arrived before `before` and are still incomplete."""
    return connection.execute(
        select(
            mo_fragments.c.carrier,
            mo_fragments.c.sender,
            mo_fragments.c.recipient,
            mo_fragments.c.reference,
            mo_fragments.c.total,
        )
        .group_by(
            mo_fragments.c.carrier,
            mo_fragments.c.sender,
            mo_fragments.c.recipient,
            mo_fragments.c.reference,
            mo_fragments.c.total,
        )
        .having(func.min(mo_fragments.c.time_received) < before)
    ).all()
