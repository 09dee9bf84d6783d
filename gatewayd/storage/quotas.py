"""Quota counters: how much of each quota a period has used, one row per counter and period,
shared by every node on the database.

Taking room is one conditional update (`used + amount <= limit`), never a read and then a
write, so neither two requests in one transaction nor two nodes' transactions take the same
room twice. A transaction first holds every counter row it will charge, in sorted order, so
two nodes charging the same counters wait on each other in line instead of in a cycle (a
deadlock PostgreSQL would end by failing one of them).
"""

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from gatewayd.storage.tables import quota_counters

Key = tuple[str, str]
"""(counter, period)."""


@dataclass(frozen=True)
class Charge:
    """`amount` taken from the counter `counter` in `period`, as long as it stays within
    `limit`."""

    counter: str
    period: str
    amount: int
    limit: int

    @property
    def key(self) -> Key:
        return self.counter, self.period


def charge_all(connection: Connection, requests: list[list[Charge]]) -> list[Charge | None]:
    """Take each request's charges, all of them or none: per request None (taken) or the
    first charge that did not fit (nothing of that request taken)."""
    keys = {charge.key for charges in requests for charge in charges}
    if not keys:
        return [None] * len(requests)
    _hold(connection, keys)
    return [_charge_one(connection, charges) for charges in requests]


def used(connection: Connection, keys: Iterable[Key]) -> dict[Key, int]:
    """What each of `keys` has used (absent: nothing yet)."""
    wanted = list(set(keys))
    if not wanted:
        return {}
    rows = connection.execute(
        select(quota_counters).where(
            tuple_(quota_counters.c.counter, quota_counters.c.period).in_(wanted)
        )
    )
    return {(row.counter, row.period): row.used for row in rows}


def _hold(connection: Connection, keys: set[Key]) -> None:
    """Create the rows of `keys` that are missing and lock them all, in sorted order."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(quota_counters).values(used=0)
    statement = statement.on_conflict_do_update(
        index_elements=[quota_counters.c.counter, quota_counters.c.period],
        set_={"used": statement.excluded.used + quota_counters.c.used},
    )
    for counter, period in sorted(keys):
        connection.execute(statement, {"counter": counter, "period": period})


def _charge_one(connection: Connection, charges: list[Charge]) -> Charge | None:
    taken: list[Charge] = []
    for charge in charges:
        if not _take(connection, charge):
            for earlier in taken:
                _give_back(connection, earlier)
            return charge
        taken.append(charge)
    return None


def _counter(charge: Charge) -> ColumnElement[bool]:
    return (quota_counters.c.counter == charge.counter) & (quota_counters.c.period == charge.period)


def _take(connection: Connection, charge: Charge) -> bool:
    result = connection.execute(
        update(quota_counters)
        .where(_counter(charge), quota_counters.c.used + charge.amount <= charge.limit)
        .values(used=quota_counters.c.used + charge.amount)
    )
    return result.rowcount == 1


def _give_back(connection: Connection, charge: Charge) -> None:
    """Undo a charge of this transaction (its row is held: nobody took anything since)."""
    connection.execute(
        update(quota_counters)
        .where(_counter(charge))
        .values(used=quota_counters.c.used - charge.amount)
    )
