"""The per-account blacklist: who may not be sent to."""

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError

from gatewayd.storage.tables import blacklist


def blacklisted_among(connection: Connection, account: str, msisdns: Iterable[str]) -> set[str]:
    wanted = list(set(msisdns))
    if not wanted:
        return set()
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        query = select(blacklist.c.msisdn).where(
            blacklist.c.account == account, blacklist.c.msisdn.in_(chunk)
        )
        found.update(connection.execute(query).scalars())
    return found


def add(
    connection: Connection,
    account: str,
    msisdn: str,
    source: str,
    now: datetime,
    note: str | None = None,
) -> bool:
    """Add an entry; False when it was already there."""
    with connection.begin_nested() as savepoint:
        try:
            connection.execute(
                insert(blacklist).values(
                    account=account, msisdn=msisdn, source=source, note=note, time_created=now
                )
            )
        except IntegrityError:
            savepoint.rollback()
            return False
    return True


def remove(connection: Connection, account: str, msisdn: str) -> bool:
    """Remove an entry; False when it was not there."""
    result = connection.execute(
        delete(blacklist).where(blacklist.c.account == account, blacklist.c.msisdn == msisdn)
    )
    return result.rowcount > 0


def entries(connection: Connection, account: str) -> list[dict]:
    query = (
        select(blacklist.c.msisdn, blacklist.c.source, blacklist.c.note, blacklist.c.time_created)
        .where(blacklist.c.account == account)
        .order_by(blacklist.c.msisdn)
    )
    return [dict(row._mapping) for row in connection.execute(query)]
