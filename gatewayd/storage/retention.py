"""Deleting records nothing needs any more, one bounded chunk at a time, and table sizes.

Each kind of record has a condition that makes a row expired at a cutoff time; a chunk is
at most `limit` ids that meet it, deleted by id (with the rows that belong to them) and the
condition checked again, so a row that changed in between is kept. Nothing in flight ever
meets a condition: a message is deleted only once final, an outbox job only once finished.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, ColumnElement, Connection, Table, delete, func, select, text

from gatewayd.core.statuses import Status
from gatewayd.storage.tables import (
    incoming_messages,
    message_parts,
    messages,
    metadata,
    outbox,
    poll_queue,
    receipts,
    request_logs,
    webhook_attempts,
)

FINAL_STATUSES = [int(status) for status in Status if status.final]


@dataclass(frozen=True)
class Kind:
    """One kind of record: `name` is its `retention.<name>_days` setting."""

    name: str
    table: Table
    expired: Callable[[datetime], ColumnElement[bool]]
    belonging: tuple[Column, ...] = ()

    @property
    def key(self) -> Column:
        return self.table.c.id


KINDS = [
    Kind(
        "messages",
        messages,
        lambda cutoff: messages.c.status.in_(FINAL_STATUSES) & (messages.c.time_done < cutoff),
        (message_parts.c.message_id,),
    ),
    Kind("receipts", receipts, lambda cutoff: receipts.c.time_matched < cutoff),
    Kind(
        "unmatched_receipts",
        receipts,
        lambda cutoff: receipts.c.time_matched.is_(None) & (receipts.c.time_received < cutoff),
    ),
    Kind("incoming", incoming_messages, lambda cutoff: incoming_messages.c.time_received < cutoff),
    Kind("fetched_poll", poll_queue, lambda cutoff: poll_queue.c.time_fetched < cutoff),
    Kind(
        "unfetched_poll",
        poll_queue,
        lambda cutoff: poll_queue.c.time_fetched.is_(None) & (poll_queue.c.time_created < cutoff),
    ),
    Kind(
        "outbox",
        outbox,
        lambda cutoff: (outbox.c.state != "pending") & (outbox.c.time_done < cutoff),
        (webhook_attempts.c.outbox_id,),
    ),
    Kind("request_logs", request_logs, lambda cutoff: request_logs.c.time_created < cutoff),
]


def delete_chunk(connection: Connection, kind: Kind, cutoff: datetime, limit: int) -> dict:
    """Delete at most `limit` expired rows of `kind` and what belongs to them; rows deleted
    by table name."""
    condition = kind.expired(cutoff)
    ids = connection.execute(select(kind.key).where(condition).limit(limit)).scalars().all()
    if not ids:
        return {kind.table.name: 0}
    deleted = {}
    for column in kind.belonging:
        result = connection.execute(delete(column.table).where(column.in_(ids)))
        deleted[column.table.name] = result.rowcount
    result = connection.execute(delete(kind.table).where(kind.key.in_(ids), condition))
    deleted[kind.table.name] = result.rowcount
    return deleted


def table_rows(connection: Connection) -> dict[str, int]:
    """Rows per table: PostgreSQL's planner estimate where it has one (no scan), else a count."""
    names = sorted(metadata.tables)
    estimates: dict[str, int] = {}
    if connection.dialect.name == "postgresql":
        found = connection.execute(
            text(
                "SELECT relname, reltuples FROM pg_class WHERE relkind = 'r' "
                "AND relnamespace = current_schema()::regnamespace AND relname = ANY(:names)"
            ),
            {"names": names},
        )
        estimates = {name: int(rows) for name, rows in found if rows >= 0}
    for name in names:
        if name not in estimates:
            table = metadata.tables[name]
            estimates[name] = connection.execute(select(func.count()).select_from(table)).scalar()
    return estimates


def database_bytes(connection: Connection) -> int:
    """The database's size on disk (SQLite: the main file, not its write-ahead log)."""
    if connection.dialect.name == "postgresql":
        return connection.execute(text("SELECT pg_database_size(current_database())")).scalar()
    pages = connection.execute(text("PRAGMA page_count")).scalar()
    return pages * connection.execute(text("PRAGMA page_size")).scalar()
