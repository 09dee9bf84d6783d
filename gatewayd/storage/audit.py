"""The audit of admin commands: who (the admin token's name) did what, to what, when."""

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from gatewayd.storage.tables import admin_audit


def record(
    connection: Connection,
    now: datetime,
    token_name: str,
    command: str,
    target: str | None,
    outcome: str,
) -> None:
    connection.execute(
        admin_audit.insert().values(
            time_created=now,
            token_name=token_name,
            command=command,
            target=None if target is None else target[:255],
            outcome=outcome[:255],
        )
    )


def recent(connection: Connection, limit: int) -> list[dict[str, Any]]:
    """The last `limit` entries, newest first."""
    query = select(admin_audit).order_by(admin_audit.c.id.desc()).limit(limit)
    return [dict(row._mapping) for row in connection.execute(query)]
