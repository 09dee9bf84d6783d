"""Per-application statistics: messages by day (UTC) and status."""

from datetime import datetime

from sqlalchemy import Connection, func, select

from gatewayd.core.statuses import Status
from gatewayd.storage.tables import messages


def daily_counts(connection: Connection, application: str, since: datetime) -> list[dict]:
    day = func.date(messages.c.time_created)
    rows = connection.execute(
        select(day.label("day"), messages.c.status, func.count().label("count"))
        .where(
            messages.c.application == application,
            messages.c.time_created >= since,
            messages.c.sandbox.is_(False),
        )
        .group_by(day, messages.c.status)
        .order_by(day, messages.c.status)
    ).all()
    by_day: dict[str, dict[str, int]] = {}
    for row in rows:
        by_day.setdefault(str(row.day), {})[Status(row.status).description] = row.count
    return [
        {"day": day, "statuses": counts, "total": sum(counts.values())}
        for day, counts in by_day.items()
    ]
