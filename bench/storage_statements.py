"""The writer's hottest statements, one kind at a time: SQLAlchemy Core against the raw path.

Each kind of statement (inserting accepted messages, poll records and outbox rows, recording
submitted parts, the updates by key of receipts and webhook outcomes, marking Submitted,
claiming) runs in batches of 1, 50 and 500 rows on a real SQLite file (WAL, the options of
gatewayd/storage/engine.py) and, when it answers, on a database of its own on the local
PostgreSQL server (created and dropped here). "core" is `connection.execute(statement,
rows)` as the writer ran it before; "raw" is gatewayd/storage/bulk.py now (compiled once,
the DB-API cursor's executemany; on PostgreSQL inserts of COPY_FROM_ROWS rows or more are a
COPY FROM STDIN). On PostgreSQL "execmany" is the raw executemany alone for the inserts
(what COPY is measured against) and "unnest" one UPDATE ... FROM unnest() for the updates
by key, a candidate measured here.
Times are CPU of this process (time.process_time) in µs per row, median of 3 rounds; only
the statement is timed, not BEGIN or COMMIT (on PostgreSQL the server's own CPU is not in
them).

    .venv/bin/python bench/storage_statements.py [--rounds 3] [--skip-postgres]
"""

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import drop_postgres_database, postgres_database
from sqlalchemy import Connection, Engine, Table, bindparam, insert, update

from gatewayd.config.schema import DatabaseConfig
from gatewayd.core.lifecycle import SOURCES
from gatewayd.core.statuses import Status
from gatewayd.storage import bulk
from gatewayd.storage import messages as store
from gatewayd.storage import outbox as outbox_store
from gatewayd.storage.bulk import insert_rows, update_rows
from gatewayd.storage.engine import open_engine
from gatewayd.storage.migrate import upgrade
from gatewayd.storage.tables import message_parts, messages, outbox, poll_queue

BATCHES = (1, 50, 500)
ROWS_PER_ROUND = {1: 200, 50: 1000, 500: 2000}
NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
Rows = list[dict[str, Any]]


class Ids:
    """Fresh ids for every batch of every run."""

    def __init__(self) -> None:
        self.next = 0

    def take(self, count: int) -> list[str]:
        start, self.next = self.next, self.next + count
        return [f"bench-{number:09d}" for number in range(start, start + count)]


def message_row(message_id: str) -> dict[str, Any]:
    return {
        "id": message_id,
        "account": "bench",
        "application": "bench",
        "sandbox": False,
        "reference": message_id,
        "recipient": "32470000001",
        "sender": "gatewayd",
        "country": "BE",
        "body": "Benchmark message, about sixty characters long, plain text.",
        "encoding": "TEXT",
        "number_of_parts": 1,
        "number_of_chars": 59,
        "concat_ref": 7,
        "replace_if_present": False,
        "status": 1,
        "status_description": "Queued",
        "status_url": None,
        "status_method": None,
        "status_format": None,
        "front_door": "http",
        "time_created": NOW,
        "time_scheduled": None,
        "time_done": None,
        "validity_until": NOW + timedelta(days=2),
        "next_attempt_at": NOW,
        "attempts": 0,
    }


def poll_row(message_id: str) -> dict[str, Any]:
    record = {"MessageId": message_id, "Status": 1, "StatusDescription": "Queued"}
    return {
        "application": "bench",
        "kind": "status",
        "sandbox": False,
        "record": record,
        "time_created": NOW,
    }


def outbox_row(message_id: str) -> dict[str, Any]:
    return {
        "channel": "webhook",
        "application": "bench",
        "kind": "status",
        "message_id": message_id,
        "url": "http://127.0.0.1:9/status",
        "method": "POST",
        "format": "JSON",
        "record": {"MessageId": message_id, "Status": 2, "StatusDescription": "Delivered"},
        "state": "pending",
        "attempts": 0,
        "time_created": NOW,
        "next_attempt_at": NOW,
    }


def part_row(message_id: str) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "part_no": 1,
        "carrier": "sim",
        "carrier_message_id": message_id,
        "carrier_id_key": message_id,
        "state": "submitted",
        "time_submitted": NOW,
    }


def part_state_row(message_id: str) -> dict[str, Any]:
    return {
        "b_message_id": message_id,
        "b_part_no": 1,
        "state": "delivered",
        "error": None,
        "time_done": NOW,
    }


def _outbox_ids(connection: Connection, ids: list[str]) -> list[int]:
    insert_rows(connection, outbox, [outbox_row(i) for i in ids])
    found = connection.execute(
        outbox.select().with_only_columns(outbox.c.id).where(outbox.c.message_id.in_(ids))
    )
    return list(found.scalars())


def _core_insert(table: Table) -> Callable[[Connection, Rows], None]:
    def run(connection: Connection, rows: Rows) -> None:
        connection.execute(insert(table), rows)

    return run


def _unnest(table: Table, keys: dict[str, str]) -> Callable[[Connection, Rows], None]:
    """One UPDATE ... FROM unnest() of arrays, one per column; `keys`: column -> row key."""

    def run(connection: Connection, rows: Rows) -> None:
        dialect = connection.dialect
        names = list(rows[0])
        by_row_key = {row_key: column for column, row_key in keys.items()}
        column = {name: by_row_key.get(name, name) for name in names}
        types = [table.c[column[n]].type for n in names]
        processors = [t._cached_bind_processor(dialect) for t in types]
        arrays = [
            [row[n] if p is None else p(row[n]) for row in rows]
            for n, p in zip(names, processors, strict=True)
        ]
        casts = ", ".join(f"%s::{t.compile(dialect=dialect)}[]" for t in types)
        sets = ", ".join(f"{column[n]} = v.{n}" for n in names if n not in keys.values())
        where = " AND ".join(f"{table.name}.{k} = v.{v}" for k, v in keys.items())
        sql = (
            f"UPDATE {table.name} SET {sets} FROM unnest({casts}) AS v({', '.join(names)})"
            f" WHERE {where}"
        )
        driver = connection.connection.driver_connection
        with driver.cursor() as cursor:
            cursor.execute(sql, arrays)

    return run


def _core_update(statement) -> Callable[[Connection, Rows], None]:
    def run(connection: Connection, rows: Rows) -> None:
        connection.execute(statement, rows)

    return run


_OUTCOME = update(outbox).where(outbox.c.id == bindparam("job_id"))


def _outcome_rows(job_ids: list[int]) -> Rows:
    done = [outbox_store.finished(i, "delivered", NOW, 1, None) for i in job_ids]
    return [
        {**row, "claimed_by": None, "claimed_until": None, "next_attempt_at": None} for row in done
    ]


def _claim(connection: Connection, _: Any) -> None:
    store.claim_due_messages(connection, "bench", NOW, timedelta(seconds=60), 10_000)


class Kind:
    """One kind of statement: what exists before it (untimed), and its implementations."""

    def __init__(
        self,
        name: str,
        prepare: Callable[[Connection, list[str]], Any],
        implementations: dict[str, Callable[[Connection, Any], None]],
    ) -> None:
        self.name = name
        self.prepare = prepare
        self.implementations = implementations


def _transition(connection: Connection, ids: list[str], status: Status, sources: Any) -> None:
    final = status.final
    store.transition(
        connection,
        ids,
        sources,
        unsent_only=False,
        status=int(status),
        description=status.description,
        done_at=NOW if final else None,
        submitted_at=NOW,
        carrier="sim",
        smpp_status=None,
    )


def _submitted(connection: Connection, ids: list[str]) -> None:
    _transition(connection, ids, Status.SUBMITTED, SOURCES[Status.SUBMITTED])


def _delivered(connection: Connection, ids: list[str]) -> None:
    _transition(connection, ids, Status.DELIVERED, SOURCES[Status.DELIVERED])


def _with_submitted(connection: Connection, ids: list[str]) -> list[str]:
    _submitted(connection, _parents(connection, ids))
    return ids


def kinds(postgres: bool) -> list[Kind]:
    """Each kind's prepare makes what it needs and returns its rows (untimed)."""

    def inserts(table: Table, make: Callable[[str], dict], parents: bool = False) -> Kind:
        def prepare(connection: Connection, ids: list[str]) -> Rows:
            if parents:
                insert_rows(connection, messages, [message_row(i) for i in ids])
            return [make(i) for i in ids]

        impl: dict[str, Callable] = {
            "core": _core_insert(table),
            "raw": lambda c, rows: insert_rows(c, table, rows),
        }
        if postgres:
            impl["execmany"] = lambda c, rows: bulk._execute_many(c, table, rows)
        return Kind(f"insert {table.name}", prepare, impl)

    def updates(name, make_keys, statement, table, keys, rows_of) -> Kind:
        impl: dict[str, Callable] = {
            "core": _core_update(statement),
            "raw": lambda c, rows: update_rows(c, statement, rows),
        }
        if postgres:
            impl["unnest"] = _unnest(table, keys)
        return Kind(name, lambda c, ids: rows_of(make_keys(c, ids)), impl)

    return [
        inserts(messages, message_row),
        inserts(poll_queue, poll_row),
        inserts(outbox, outbox_row),
        inserts(message_parts, part_row, parents=True),
        updates(
            "update message_parts (set_part_states)",
            _with_parts,
            store._PART_STATE_UPDATE,
            message_parts,
            {"message_id": "b_message_id", "part_no": "b_part_no"},
            lambda ids: [part_state_row(i) for i in ids],
        ),
        updates(
            "update outbox (record_outcomes)",
            _outbox_ids,
            _OUTCOME,
            outbox,
            {"id": "job_id"},
            _outcome_rows,
        ),
        Kind("transition to Submitted (one UPDATE ... IN)", _parents, {"core": _submitted}),
        Kind("transition to Delivered (one UPDATE ... IN)", _with_submitted, {"core": _delivered}),
        Kind("claim_due messages", _parents, {"core": _claim}),
    ]


def _parents(connection: Connection, ids: list[str]) -> list[str]:
    insert_rows(connection, messages, [message_row(i) for i in ids])
    return ids


def _with_parts(connection: Connection, ids: list[str]) -> list[str]:
    insert_rows(connection, messages, [message_row(i) for i in ids])
    insert_rows(connection, message_parts, [part_row(i) for i in ids])
    return ids


def measure(engine: Engine, kind: Kind, name: str, batch: int, ids: Ids) -> float:
    """µs of CPU per row of `kind` done by implementation `name` in batches of `batch`."""
    total = ROWS_PER_ROUND[batch]
    spent = 0.0
    for _ in range(total // batch):
        with engine.begin() as connection:
            prepared = kind.prepare(connection, ids.take(batch))
        with engine.begin() as connection:
            started = time.process_time()
            kind.implementations[name](connection, prepared)
            spent += time.process_time() - started
        if kind.name.startswith("claim"):
            with engine.begin() as connection:
                connection.execute(update(messages).values(next_attempt_at=None))
    return spent / total * 1e6


def run(engine: Engine, label: str, rounds: int, postgres: bool) -> None:
    ids = Ids()
    print(f"\n{label}: µs of CPU per row (median of {rounds})")
    header = f"{'statement':40} {'impl':7}" + "".join(f"{f'batch {b}':>11}" for b in BATCHES)
    print(header)
    for kind in kinds(postgres):
        for name in kind.implementations:
            figures = [
                statistics.median(measure(engine, kind, name, batch, ids) for _ in range(rounds))
                for batch in BATCHES
            ]
            print(f"{kind.name:40} {name:7}" + "".join(f"{f:11.1f}" for f in figures))
            sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-postgres", action="store_true")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        engine = open_engine(DatabaseConfig(url=f"sqlite:///{Path(directory) / 'bench.db'}"))
        upgrade(engine)
        run(engine, "SQLite (WAL, synchronous NORMAL)", arguments.rounds, postgres=False)
        engine.dispose()
    if arguments.skip_postgres:
        return
    url = postgres_database()
    if url is None:
        print("\nPostgreSQL does not answer at 127.0.0.1:5432: skipped")
        return
    try:
        engine = open_engine(DatabaseConfig(url=url))
        upgrade(engine)
        run(engine, "PostgreSQL (local, psycopg 3)", arguments.rounds, postgres=True)
        engine.dispose()
    finally:
        drop_postgres_database(url)


if __name__ == "__main__":
    main()
