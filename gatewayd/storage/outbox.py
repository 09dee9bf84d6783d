"""The webhook outbox: jobs claimed by one node at a time, retried until delivered or given up."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, bindparam, update

from gatewayd.storage.claims import claim_due
from gatewayd.storage.tables import outbox


def claim_jobs(
    connection: Connection, channel: str, node: str, now: datetime, lease: timedelta, limit: int
) -> list[Row]:
    return claim_due(
        connection,
        outbox,
        node=node,
        now=now,
        lease=lease,
        limit=limit,
        where=(outbox.c.channel == channel) & (outbox.c.state == "pending"),
    )


def finish(
    connection: Connection,
    job_id: int,
    state: str,
    now: datetime,
    attempts: int,
    error: str | None = None,
) -> None:
    connection.execute(
        update(outbox)
        .where(outbox.c.id == job_id)
        .values(
            state=state,
            time_done=now,
            attempts=attempts,
            last_error=error,
            next_attempt_at=None,
            claimed_by=None,
            claimed_until=None,
        )
    )


def retry_later(
    connection: Connection, job_id: int, at: datetime, attempts: int, error: str
) -> None:
    connection.execute(
        update(outbox)
        .where(outbox.c.id == job_id)
        .values(
            attempts=attempts,
            last_error=error[:255],
            next_attempt_at=at,
            claimed_by=None,
            claimed_until=None,
        )
    )


_OUTCOME = update(outbox).where(outbox.c.id == bindparam("job_id"))


def record_outcomes(
    connection: Connection, finished: list[dict[str, Any]], later: list[dict[str, Any]]
) -> None:
    """Many jobs' outcomes at once. `finished`: job_id, state, time_done, attempts, last_error;
    `later`: job_id, next_attempt_at, attempts, last_error."""
    released = {"claimed_by": None, "claimed_until": None}
    if finished:
        connection.execute(
            _OUTCOME, [{**row, **released, "next_attempt_at": None} for row in finished]
        )
    if later:
        connection.execute(_OUTCOME, [{**row, **released} for row in later])
