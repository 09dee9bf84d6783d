"""The webhook attempt log: one row per request sent for an outbox job, for traces.

Rows are written with the job's outcome, in the same bulk write, and deleted with the job.
"""

from typing import Any

from sqlalchemy import Connection, select

from gatewayd.storage.bulk import insert_rows
from gatewayd.storage.tables import webhook_attempts


def record_attempts(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Rows of outbox_id, time_attempted, status_code, error, source_address, duration_ms."""
    insert_rows(connection, webhook_attempts, rows)


def attempts_of(connection: Connection, job_ids: list[int]) -> list[dict[str, Any]]:
    query = (
        select(webhook_attempts)
        .where(webhook_attempts.c.outbox_id.in_(job_ids))
        .order_by(webhook_attempts.c.time_attempted, webhook_attempts.c.id)
    )
    return [dict(row._mapping) for row in connection.execute(query)]
