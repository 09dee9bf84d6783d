"""What operators switched on the running gateway and what stays so across restarts (and holds
for every node sharing the database): suspended carriers and maintenance mode."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Insert, delete, select
from sqlalchemy.exc import IntegrityError

from gatewayd.storage.tables import carrier_suspensions, maintenance_mode

_MAINTENANCE_ROW = 1


@dataclass(frozen=True)
class Switch:
    """One operator setting that is on: who set it, and when."""

    by: str
    since: datetime


@dataclass(frozen=True)
class OperatorState:
    suspended: dict[str, Switch]
    """Carrier name → its suspension."""
    maintenance: Switch | None


def read_state(connection: Connection) -> OperatorState:
    suspended = {
        row.carrier: Switch(row.suspended_by, row.time_suspended)
        for row in connection.execute(select(carrier_suspensions))
    }
    row = connection.execute(select(maintenance_mode)).first()
    return OperatorState(suspended, Switch(row.set_by, row.time_set) if row else None)


def suspend(connection: Connection, carrier: str, by: str, now: datetime) -> bool:
    """Suspend `carrier`; False when it already was (by this node or another)."""
    row = {"carrier": carrier, "suspended_by": by, "time_suspended": now}
    return _insert_once(connection, carrier_suspensions.insert().values(**row))


def resume(connection: Connection, carrier: str) -> bool:
    """Resume `carrier`; False when it was not suspended."""
    removed = connection.execute(
        delete(carrier_suspensions).where(carrier_suspensions.c.carrier == carrier)
    )
    return removed.rowcount > 0


def set_maintenance(connection: Connection, on: bool, by: str, now: datetime) -> bool:
    """Switch maintenance mode; False when it already was so."""
    if not on:
        return connection.execute(delete(maintenance_mode)).rowcount > 0
    row = {"id": _MAINTENANCE_ROW, "set_by": by, "time_set": now}
    return _insert_once(connection, maintenance_mode.insert().values(**row))


def _insert_once(connection: Connection, statement: Insert) -> bool:
    """Insert a row keyed by what it switches on; False when it is there already (two nodes
    switching at once: the second finds the first's row)."""
    with connection.begin_nested() as savepoint:
        try:
            connection.execute(statement)
        except IntegrityError:
            savepoint.rollback()
            return False
    return True
