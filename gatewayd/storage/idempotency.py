"""Idempotency keys of the Message API: the first answer to a request, kept for a window, so
that a client's retry with the same key gets it again instead of creating a second SMS.

A key is written in the same transaction as the messages its request created (one bulk kind
with the accepted messages), so a key is remembered exactly when its messages are stored.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Row, and_, bindparam, delete, insert, select, tuple_

from gatewayd.storage.messages import INSERT_ACCEPTED, Accepted
from gatewayd.storage.quotas import Charge
from gatewayd.storage.tables import idempotency_keys


@dataclass(frozen=True)
class Remembered:
    """A key's row: who asked, what they asked (the fingerprint) and the answer given."""

    application: str
    key: str
    fingerprint: str
    status_code: int
    response_body: str
    time_created: datetime
    forget_before: datetime
    """A row for the same key older than this is past its window: replaced."""


def recall(connection: Connection, application: str, key: str, since: datetime) -> Row | None:
    """The answer remembered for `key` of `application`, if given at or after `since`."""
    return connection.execute(
        select(idempotency_keys).where(
            idempotency_keys.c.application == application,
            idempotency_keys.c.key == key,
            idempotency_keys.c.time_created >= since,
        )
    ).first()


def forget_before(connection: Connection, cutoff: datetime, limit: int) -> int:
    """Delete up to `limit` keys remembered before `cutoff`; how many."""
    pk = tuple_(idempotency_keys.c.application, idempotency_keys.c.key)
    old = (
        select(idempotency_keys.c.application, idempotency_keys.c.key)
        .where(idempotency_keys.c.time_created < cutoff)
        .order_by(idempotency_keys.c.time_created)
        .limit(limit)
    )
    keys = connection.execute(old).all()
    if not keys:
        return 0
    connection.execute(delete(idempotency_keys).where(pk.in_([tuple(k) for k in keys])))
    return len(keys)


class InsertAcceptedOnce:
    """Accepted messages of requests that carry an idempotency key, and the key's answer;
    a request refused by a quota stores neither (its retry is judged again)."""

    def run_bulk(
        self, connection: Connection, items: list[tuple[Accepted, Remembered]]
    ) -> list[Charge | None]:
        refused = INSERT_ACCEPTED.run_bulk(connection, [accepted for accepted, _ in items])
        remembered = [
            vars(entry)
            for (_, entry), refusal in zip(items, refused, strict=True)
            if refusal is None
        ]
        if not remembered:
            return refused
        connection.execute(
            delete(idempotency_keys).where(
                and_(
                    idempotency_keys.c.application == bindparam("b_application"),
                    idempotency_keys.c.key == bindparam("b_key"),
                    idempotency_keys.c.time_created < bindparam("b_forget_before"),
                )
            ),
            [
                {
                    "b_application": row["application"],
                    "b_key": row["key"],
                    "b_forget_before": row["forget_before"],
                }
                for row in remembered
            ],
        )
        connection.execute(
            insert(idempotency_keys),
            [{k: v for k, v in row.items() if k != "forget_before"} for row in remembered],
        )
        return refused


INSERT_ACCEPTED_ONCE = InsertAcceptedOnce()
