"""Debug-mode request logs: what an application sent and what it was answered."""

from datetime import datetime

from sqlalchemy import Connection, insert, select

from gatewayd.storage.tables import request_logs


def record(connection: Connection, entry: dict) -> None:
    connection.execute(insert(request_logs).values(**entry))


def recent(
    connection: Connection,
    application: str,
    limit: int = 100,
    since: datetime | None = None,
) -> list[dict]:
    query = select(request_logs).where(request_logs.c.application == application)
    if since is not None:
        query = query.where(request_logs.c.time_created >= since)
    query = query.order_by(request_logs.c.id.desc()).limit(limit)
    return [dict(row._mapping) for row in connection.execute(query)]
