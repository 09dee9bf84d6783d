"""The webhook outbox: jobs claimed by one node at a time, retried until delivered or given up."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, bindparam, update

from gatewayd.storage.bulk import update_rows
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


def finished(job_id: int, state: str, now: datetime, attempts: int, error: str | None) -> dict:
    """The outcome of a job that is done: delivered, or failed for good."""
    return {
        "job_id": job_id,
        "state": state,
        "time_done": now,
        "attempts": attempts,
        "last_error": None if error is None else error[:255],
    }


def again_later(job_id: int, at: datetime, attempts: int, error: str) -> dict:
    """The outcome of an attempt that failed and is tried again at `at`."""
    return {
        "job_id": job_id,
        "next_attempt_at": at,
        "attempts": attempts,
        "last_error": error[:255],
    }


_OUTCOME = update(outbox).where(outbox.c.id == bindparam("job_id"))


def record_outcomes(
    connection: Connection, done: list[dict[str, Any]], later: list[dict[str, Any]]
) -> None:
    """Many jobs' outcomes at once: `done` rows as `finished` makes them, `later` rows as
    `again_later` makes them."""
    released = {"claimed_by": None, "claimed_until": None}
    ended = {**released, "next_attempt_at": None}
    update_rows(
        connection,
        _OUTCOME,
        [{**row, **ended} for row in done] + [{**row, **released} for row in later],
    )
