"""What operators switched on the running gateway and what stays so across restarts (and holds
for every node sharing the database): suspended carriers and maintenance mode."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select

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
    """Suspend `carrier`; False when it already was."""
    exists = select(carrier_suspensions.c.carrier).where(carrier_suspensions.c.carrier == carrier)
    if connection.execute(exists).first() is not None:
        return False
    connection.execute(
        carrier_suspensions.insert().values(carrier=carrier, suspended_by=by, time_suspended=now)
    )
    return True


def resume(connection: Connection, carrier: str) -> bool:
    """Resume `carrier`; False when it was not suspended."""
    removed = connection.execute(
        delete(carrier_suspensions).where(carrier_suspensions.c.carrier == carrier)
    )
    return removed.rowcount > 0


def set_maintenance(connection: Connection, on: bool, by: str, now: datetime) -> bool:
    """Switch maintenance mode; False when it already was so."""
    present = connection.execute(select(maintenance_mode.c.id)).first() is not None
    if present == on:
        return False
    if on:
        connection.execute(
            maintenance_mode.insert().values(id=_MAINTENANCE_ROW, set_by=by, time_set=now)
        )
    else:
        connection.execute(delete(maintenance_mode))
    return True
