"""What the status page reads from the database: the queues, as cheap reads an operator may
repeat every few seconds on a database of millions of messages.

Each read walks one index over the rows still waiting (never the finished ones) and stops
after `LIMIT` rows, oldest first, so its cost is bounded whatever piles up: past the limit
the counts say "at least" (`capped`), and the oldest ages stay exact.
"""

from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import Connection, and_, case, func, literal, or_, select

from gatewayd.storage.outbox import PENDING
from gatewayd.storage.tables import instances, messages, outbox, receipts

LIMIT = 100_000


def message_queue(connection: Connection, now: datetime) -> dict:
    """The messages waiting to be sent, per application and carrier (none until routed):
    queued (due), scheduled (due later: a schedule or a retry's pause), in flight (claimed
    by a dispatcher), and the due time of the oldest queued."""
    waiting = (
        select(
            messages.c.application,
            messages.c.carrier,
            messages.c.next_attempt_at,
            messages.c.claimed_until,
        )
        .where(messages.c.next_attempt_at.is_not(None))
        .order_by(messages.c.next_attempt_at)
        .limit(LIMIT)
        .subquery()
    )
    claimed = waiting.c.claimed_until > now
    due = and_(or_(waiting.c.claimed_until.is_(None), ~claimed), waiting.c.next_attempt_at <= now)
    rows = connection.execute(
        select(
            waiting.c.application,
            waiting.c.carrier,
            func.count().label("total"),
            func.sum(case((due, 1), else_=0)).label("queued"),
            func.sum(case((claimed, 1), else_=0)).label("in_flight"),
            func.min(case((due, waiting.c.next_attempt_at))).label("oldest_due"),
        ).group_by(waiting.c.application, waiting.c.carrier)
    ).all()
    groups = [
        {
            "application": row.application,
            "carrier": row.carrier,
            "queued": int(row.queued),
            "scheduled": int(row.total - row.queued - row.in_flight),
            "in_flight": int(row.in_flight),
            "oldest_due": row.oldest_due,
        }
        for row in rows
    ]
    return {"groups": groups, "capped": sum(row.total for row in rows) >= LIMIT}


def receipts_waiting(connection: Connection) -> dict:
    """Receipts that came before the submit_sm_resp of their part and wait for it, per
    carrier, with the oldest one's arrival."""
    waiting = (
        select(receipts.c.carrier, receipts.c.time_received)
        .where(receipts.c.time_matched.is_(None), receipts.c.time_expired.is_(None))
        .order_by(receipts.c.time_received)
        .limit(LIMIT)
        .subquery()
    )
    rows = connection.execute(
        select(
            waiting.c.carrier,
            func.count().label("waiting"),
            func.min(waiting.c.time_received).label("oldest"),
        ).group_by(waiting.c.carrier)
    ).all()
    groups = [
        {"carrier": row.carrier, "waiting": int(row.waiting), "oldest": row.oldest} for row in rows
    ]
    return {"groups": groups, "capped": sum(row.waiting for row in rows) >= LIMIT}


def webhook_backlog(connection: Connection) -> dict:
    """The webhook jobs not delivered yet, per application and destination host: how many,
    the oldest one's creation, and the error of the failed one retried last."""
    pending = (
        select(
            outbox.c.application,
            outbox.c.url,
            outbox.c.time_created,
            outbox.c.next_attempt_at,
            outbox.c.last_error,
        )
        .where(outbox.c.channel == literal("webhook"), outbox.c.state == PENDING)
        .order_by(outbox.c.next_attempt_at)
        .limit(LIMIT)
        .subquery()
    )
    rows = connection.execute(
        select(
            pending.c.application,
            pending.c.url,
            func.count().label("pending"),
            func.min(pending.c.time_created).label("oldest"),
        ).group_by(pending.c.application, pending.c.url)
    ).all()
    ranked = (
        select(
            pending.c.application,
            pending.c.url,
            pending.c.last_error,
            func.row_number()
            .over(
                partition_by=(pending.c.application, pending.c.url),
                order_by=pending.c.next_attempt_at.desc(),
            )
            .label("newest"),
        )
        .where(pending.c.last_error.is_not(None))
        .subquery()
    )
    errors = {
        (row.application, row.url): row.last_error
        for row in connection.execute(
            select(ranked.c.application, ranked.c.url, ranked.c.last_error).where(
                ranked.c.newest == 1
            )
        )
    }
    by_host: dict[tuple[str, str], dict] = {}
    for row in rows:
        host = urlsplit(row.url or "").netloc or "(none)"
        entry = by_host.setdefault(
            (row.application, host),
            {"application": row.application, "host": host, "pending": 0, "oldest": row.oldest},
        )
        entry["pending"] += int(row.pending)
        entry["oldest"] = min(entry["oldest"], row.oldest)
        entry["last_error"] = errors.get((row.application, row.url)) or entry.get("last_error")
    return {"groups": list(by_host.values()), "capped": sum(r.pending for r in rows) >= LIMIT}


def webhook_pending(connection: Connection) -> int:
    """How many webhook jobs are pending (at most LIMIT): the backlog chart's level."""
    pending = (
        select(outbox.c.id)
        .where(outbox.c.channel == literal("webhook"), outbox.c.state == PENDING)
        .limit(LIMIT)
        .subquery()
    )
    return int(connection.execute(select(func.count()).select_from(pending)).scalar_one())


def instance_leases(connection: Connection) -> list[dict]:
    """Every instance registered in the database and its lease."""
    rows = connection.execute(select(instances).order_by(instances.c.node_id, instances.c.id))
    return [dict(row._mapping) for row in rows]
