"""The webhook jobs still to deliver, by application and URL, and making those that wait for a
retry due at once (admin commands; the status page shows the same backlog)."""

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from gatewayd.storage.outbox import PENDING, jobs_topic
from gatewayd.storage.tables import outbox
from gatewayd.storage.writer import notify_after_commit

_WEBHOOK_PENDING = (outbox.c.channel == "webhook") & (outbox.c.state == PENDING)


def pending_by_url(connection: Connection) -> list[dict[str, Any]]:
    """Per (application, url): pending jobs, the oldest one's creation, and the last error of
    the job attempted most recently (by its id: the latest job that failed)."""
    groups = connection.execute(
        select(
            outbox.c.application,
            outbox.c.url,
            func.count().label("pending"),
            func.min(outbox.c.time_created).label("oldest"),
            func.max(outbox.c.id).filter(outbox.c.last_error.is_not(None)).label("failed_id"),
        )
        .where(_WEBHOOK_PENDING)
        .group_by(outbox.c.application, outbox.c.url)
    ).all()
    failed_ids = [row.failed_id for row in groups if row.failed_id is not None]
    errors = (
        dict(
            connection.execute(
                select(outbox.c.id, outbox.c.last_error).where(outbox.c.id.in_(failed_ids))
            ).all()
        )
        if failed_ids
        else {}
    )
    return [
        {
            "application": row.application,
            "url": row.url or "",
            "pending": row.pending,
            "oldest": row.oldest,
            "last_error": errors.get(row.failed_id),
        }
        for row in groups
    ]


def retry_now(connection: Connection, now: datetime, application: str | None = None) -> int:
    """Jobs waiting for a retry (of `application`, or all) are due now: how many. Jobs that
    wait for an earlier one of their message stay behind it."""
    where = _WEBHOOK_PENDING & (outbox.c.next_attempt_at > now)
    if application is not None:
        where = where & (outbox.c.application == application)
    count = connection.execute(update(outbox).where(where).values(next_attempt_at=now)).rowcount
    if count:
        notify_after_commit(connection, jobs_topic("webhook"))
    return count
