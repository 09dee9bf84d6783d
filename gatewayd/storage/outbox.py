"""The outbox: jobs claimed by one node at a time, retried until delivered or given up.

The status jobs of one message go out in order, one at a time per channel: a job added while
an earlier one of its message is pending waits (no `next_attempt_at`, so claims never see
it), and the job that ends (delivered or failed for good) wakes the next. Claims stay as
cheap as before, whatever an outage piles up.

Adding jobs, or making a chain's next job due, notifies `jobs_topic(channel)` after commit
(see `writer.notify_after_commit`): the channel's outbox looks at once instead of at its poll.
"""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, select, update

from gatewayd.storage.bulk import insert_rows, update_rows
from gatewayd.storage.claims import Claim
from gatewayd.storage.prepared import Prepared
from gatewayd.storage.tables import outbox
from gatewayd.storage.writer import notify_after_commit

PENDING = "pending"


def jobs_topic(channel: str) -> str:
    """The after-commit topic of jobs of `channel` that became due."""
    return f"outbox:{channel}"


_CLAIM_PENDING = Claim(
    outbox, (outbox.c.channel == bindparam("channel")) & (outbox.c.state == PENDING)
)


def claim_jobs(
    connection: Connection, channel: str, node: str, now: datetime, lease: timedelta, limit: int
) -> list[Row]:
    return _CLAIM_PENDING(connection, node=node, now=now, lease=lease, limit=limit, channel=channel)


def add_jobs(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Add jobs; one whose message has an earlier job pending on its channel waits for it."""
    chains = {(row["channel"], row["message_id"]) for row in rows if _in_a_chain(row)}
    busy = _pending_chains(connection, chains)
    for row in rows:
        if not _in_a_chain(row):
            continue
        chain = (row["channel"], row["message_id"])
        if chain in busy:
            row["next_attempt_at"] = None
        busy.add(chain)
    insert_rows(connection, outbox, rows)
    for channel in {row["channel"] for row in rows if row.get("next_attempt_at") is not None}:
        notify_after_commit(connection, jobs_topic(channel))


def _in_a_chain(row: dict[str, Any]) -> bool:
    """Status jobs of one message go in order; an incoming message has one job per channel."""
    return row["kind"] == "status" and row.get("message_id") is not None


_PENDING_CHAINS = Prepared(
    select(outbox.c.channel, outbox.c.message_id)
    .where(
        outbox.c.message_id.in_(bindparam("ids", expanding=True)),
        outbox.c.kind == "status",
        outbox.c.state == PENDING,
    )
    .with_for_update()
)


def _pending_chains(connection: Connection, chains: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Those of (channel, message_id) `chains` with a job pending. Locked on PostgreSQL: a
    node ending one of them at the same time wakes the job added here, or ends first."""
    if not chains:
        return set()
    rows = _PENDING_CHAINS.rows(connection, ids={message_id for _, message_id in chains})
    return {(row.channel, row.message_id) for row in rows} & chains


_CHAINS_OF = Prepared(
    select(outbox.c.channel, outbox.c.message_id).where(
        outbox.c.id.in_(bindparam("ids", expanding=True)),
        outbox.c.kind == "status",
        outbox.c.message_id.is_not(None),
    )
)
_WAKE_FIRST_PENDING = Prepared(
    update(outbox)
    .where(
        outbox.c.id.in_(
            select(func.min(outbox.c.id))
            .where(
                outbox.c.channel == bindparam("channel"),
                outbox.c.message_id.in_(bindparam("message_ids", expanding=True)),
                outbox.c.kind == "status",
                outbox.c.state == PENDING,
            )
            .group_by(outbox.c.message_id)
        ),
        outbox.c.next_attempt_at.is_(None),
    )
    .values(next_attempt_at=bindparam("now"))
)


def _wake_next(connection: Connection, ended_ids: list[int], now: datetime) -> None:
    """The next job of each message whose job ended becomes due."""
    by_channel: dict[str, set[str]] = {}
    for row in _CHAINS_OF.rows(connection, ids=ended_ids):
        by_channel.setdefault(row.channel, set()).add(row.message_id)
    for channel, message_ids in by_channel.items():
        if _WAKE_FIRST_PENDING.run(connection, channel=channel, message_ids=message_ids, now=now):
            notify_after_commit(connection, jobs_topic(channel))


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
    if done:
        _wake_next(connection, [row["job_id"] for row in done], done[0]["time_done"])
