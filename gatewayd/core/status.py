"""What the gateway is doing right now, as one JSON-ready report for the status page: the
carriers and their binds (from memory), rates (from the sampled history), the queues and
the instances (cheap bounded reads, see storage/status.py), database size and retention
(as retention last measured them)."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import trio
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from gatewayd.config.holder import ConfigHolder
from gatewayd.config.schema import CarrierConfig
from gatewayd.core.carriers import CarrierPool
from gatewayd.core.directory import App
from gatewayd.core.quotas import quotas_of, remaining_quotas
from gatewayd.core.result_codes import Result
from gatewayd.core.retention import Retention
from gatewayd.core.status_history import Key, Sample, StatusHistory
from gatewayd.storage import status as store

if TYPE_CHECKING:
    from gatewayd.protocols.smpp.client import Carrier

MINUTE_S, HOUR_S = 60.0, 3600.0
_NOTHING_STORED = {
    "quotas": {},
    "queue": {"groups": [], "capped": False},
    "receipts": {"groups": [], "capped": False},
    "webhooks": {"groups": [], "capped": False},
    "instances": [],
}
CARRIER_COUNTS = ("submits", "receipts", "throttled", "submit_errors")
BACKLOG: Key = ("webhook_backlog", "all")
NOT_ROUTED = "(not routed yet)"


class StatusReport:
    def __init__(
        self,
        holder: ConfigHolder,
        engine: Engine,
        carriers: CarrierPool,
        retention: Retention,
        read_totals: Callable[[], dict[Key, float]],
        clock: Callable[[], datetime],
        instance_id: Callable[[], str],
    ) -> None:
        self._holder = holder
        self._engine = engine
        self._carriers = carriers
        self._retention = retention
        self._clock = clock
        self._instance_id = instance_id
        self.history = StatusHistory(read_totals, self._levels, clock)

    async def _levels(self) -> dict[Key, float]:
        def read() -> int:
            with self._engine.connect() as connection:
                return store.webhook_pending(connection)

        return {BACKLOG: float(await trio.to_thread.run_sync(read))}

    async def report(self) -> dict:
        now = self._clock()
        try:
            stored = await trio.to_thread.run_sync(self._read_storage, now)
            storage_error = None
        except SQLAlchemyError as error:  # the database away: what memory holds still shows
            stored, storage_error = _NOTHING_STORED, str(error).splitlines()[0]
        current = self.history.now()
        pool = self._carriers
        carriers = [
            carrier_entry(
                name, carrier, pool.configs[name], pool.is_suspended(name), self.history, current
            )
            for name, carrier in sorted(pool.carriers.items())
        ]
        return {
            "time": now.isoformat(),
            "storage_error": storage_error,
            "carriers": carriers,
            "queues": _queues(
                stored["queue"],
                now,
                sorted(pool.configs),
                list(self._holder.current.directory.by_name.values()),
                stored["quotas"],
            ),
            "receipts_waiting": _aged(stored["receipts"], "oldest", now),
            "webhooks": _aged(stored["webhooks"], "oldest", now),
            "front_doors": self._front_doors(current),
            "database": self._database(),
            "instances": _instances(stored["instances"], now, self._instance_id()),
            "history": self.history.chart(
                [("submits", carrier["name"]) for carrier in carriers] + [BACKLOG], current
            ),
        }

    def _read_storage(self, now: datetime) -> dict:
        apps = self._holder.current.directory.by_name.values()
        with self._engine.connect() as connection:
            return {
                "quotas": {
                    app.name: remaining_quotas(connection, app, now)
                    for app in apps
                    if quotas_of(app)
                },
                "queue": store.message_queue(connection, now),
                "receipts": store.receipts_waiting(connection),
                "webhooks": store.webhook_backlog(connection),
                "instances": store.instance_leases(connection),
            }

    def _front_doors(self, current: Sample) -> dict:
        def rates(kind: str) -> list[dict]:
            names = sorted({name for k, name in current.totals if k == kind})
            return [{"name": n, **_counted(self.history, current, (kind, n))} for n in names]

        refusals = rates("refusals")
        for entry in refusals:
            entry["description"] = _description(int(entry["name"]))
        return {"requests": rates("requests"), "accepted": rates("accepted"), "refusals": refusals}

    def _database(self) -> dict:
        config = self._holder.current.config
        sweep = self._retention.last_sweep
        return {
            "dialect": self._engine.dialect.name,
            "bytes": self._retention.database_bytes,
            "table_rows": dict(sorted(self._retention.table_rows.items())),
            "retention": {
                **config.retention.model_dump(),
                "last_sweep": None if sweep is None else sweep.at.isoformat(),
                "last_deleted": None if sweep is None else sweep.deleted,
                "last_error": None if sweep is None else sweep.error,
            },
        }


def carrier_entry(
    name: str,
    carrier: "Carrier",
    config: CarrierConfig,
    suspended: bool,
    history: StatusHistory,
    current: Sample,
) -> dict:
    """One carrier as the status page shows it (the one place to add what it shows)."""
    error = carrier.last_submit_error
    return {
        "name": name,
        "healthy": carrier.healthy(),
        "suspended": suspended,
        "binds": [
            {
                "name": bind.name,
                "state": bind.state,
                "since": _time(bind.since),
                "in_flight": bind.in_flight,
                "last_error": bind.last_error,
                "last_error_at": _time(bind.last_error_at),
            }
            for bind in carrier.binds
        ],
        "window": {"in_use": carrier.in_flight, "size": config.window * len(carrier.binds)},
        "max_tps": config.max_tps,
        **{kind: _counted(history, current, (kind, name)) for kind in CARRIER_COUNTS},
        "last_submit_error": None if error is None else error.text,
        "last_submit_error_at": None if error is None else _time(error.at),
    }


def _counted(history: StatusHistory, current: Sample, key: Key) -> dict:
    return {
        "total": int(current.totals.get(key, 0)),
        "per_s_1m": round(history.rate(current, key, MINUTE_S), 3),
        "per_s_1h": round(history.rate(current, key, HOUR_S), 3),
    }


def application_entry(app: App, waiting: dict, quotas: list[dict]) -> dict:
    """One application as the status page shows it (the one place to add what it shows)."""
    return {"name": app.name, "account": app.account.name, **waiting, "quotas": quotas}


def _queues(
    queue: dict, now: datetime, carriers: list[str], apps: list[App], quotas: dict[str, list]
) -> dict:
    """The waiting messages summed per carrier and per application (every one configured,
    and any other the queue holds)."""

    def summed(by: str, names: list[str]) -> dict[str, dict]:
        totals = {name: _nothing_waiting(name) for name in names}
        for group in queue["groups"]:
            name = group[by] or NOT_ROUTED
            entry = totals.setdefault(name, _nothing_waiting(name))
            for count in ("queued", "scheduled", "in_flight"):
                entry[count] += group[count]
            due = group["oldest_due"]
            if due is not None and (entry["oldest"] is None or due < entry["oldest"]):
                entry["oldest"] = due
        return {name: _aged_entry(entry, "oldest", now) for name, entry in sorted(totals.items())}

    by_application = summed("application", [app.name for app in apps])
    known = {app.name: app for app in apps}
    return {
        "by_carrier": list(summed("carrier", carriers).values()),
        "by_application": [
            application_entry(known[name], waiting, quotas.get(name, []))
            if name in known
            else waiting
            for name, waiting in by_application.items()
        ],
        "capped": queue["capped"],
    }


def _nothing_waiting(name: str) -> dict:
    return {"name": name, "queued": 0, "scheduled": 0, "in_flight": 0, "oldest": None}


def _aged(found: dict, field: str, now: datetime) -> dict:
    """Each group's `field` (a time) as ISO text, and its age in seconds as `<field>_age_s`."""
    return {**found, "groups": [_aged_entry(group, field, now) for group in found["groups"]]}


def _aged_entry(entry: dict, field: str, now: datetime) -> dict:
    moment = entry[field]
    return {
        **entry,
        field: None if moment is None else moment.isoformat(),
        f"{field}_age_s": None if moment is None else round(_age(now, moment), 1),
    }


def _instances(rows: list[dict], now: datetime, this: str) -> list[dict]:
    return [
        {
            "id": row["id"],
            "node_id": row["node_id"],
            "pid": row["pid"],
            "started": row["time_started"].isoformat(),
            "lease_until": row["lease_until"].isoformat(),
            "alive": row["lease_until"] > now,
            "this": row["id"] == this,
        }
        for row in rows
    ]


def _age(now: datetime, moment: datetime) -> float:
    return max((now - moment).total_seconds(), 0.0)


def _time(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


def _description(code: int) -> str:
    return next((r.description for r in Result if int(r) == code), "")
