"""The webhook attempt log: one row per request sent for an outbox job, for traces.

Rows are written with the job's outcome, in the same bulk write, and deleted with the job.
"""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select

from gatewayd.protocols.webhooks.egress import Attempt
from gatewayd.storage.tables import webhook_attempts


def attempt_row(job_id: int, attempt: Attempt, recorded: datetime) -> dict[str, Any]:
    """The row for `attempt`, recorded at `recorded`: its time is when the request left."""
    return {
        "outbox_id": job_id,
        "time_attempted": recorded - timedelta(seconds=attempt.duration_s),
        "status_code": attempt.status,
        "error": None if attempt.error is None else attempt.error[:255],
        "source_address": attempt.source,
        "duration_ms": round(attempt.duration_s * 1000),
    }


def record_attempts(connection: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        connection.execute(insert(webhook_attempts), rows)


def attempts_of(connection: Connection, job_ids: list[int]) -> list[dict[str, Any]]:
    query = (
        select(webhook_attempts)
        .where(webhook_attempts.c.outbox_id.in_(job_ids))
        .order_by(webhook_attempts.c.time_attempted, webhook_attempts.c.id)
    )
    return [dict(row._mapping) for row in connection.execute(query)]
