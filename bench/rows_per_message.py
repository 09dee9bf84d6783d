"""What one delivered message leaves in the database: rows and index entries per table, the
bytes they take, and the bytes the daemon wrote to get there.

One gatewayd on SQLite, the node-smpp SMSC as its carrier (receipts after 0.5 s), a status
webhook for every status to the node sink. --messages requests of one recipient each at
--rate a second (bench/pacer.py), then it waits until every message is final and every
webhook delivered. Per delivered message it prints, for each table: rows, index entries
(rows times the table's indexes, its primary key's among them when it is not the rowid)
and bytes (SQLite's dbstat: the table's pages and its indexes'), then what the daemon
wrote (/proc/PID/io: wchar, the bytes of its write calls, mostly the write-ahead log's
frames, and write_bytes, what reached the disk) and its fdatasync-bound commits.

    .venv/bin/python bench/rows_per_message.py [--messages 2000] [--rate 100]
"""

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from common import (
    KEY,
    Processes,
    http_get,
    start_gatewayd,
    start_receiver,
    start_simulator,
    wait_gatewayd_bound,
    wait_until,
)
from pacer import Pacer, Request


def _io(pid: int) -> dict[str, int]:
    fields = (line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    return {name: int(value) for name, value in fields}


def _commits(admin_port: int) -> float:
    for line in http_get(f"http://127.0.0.1:{admin_port}/metrics").splitlines():
        if line.startswith("gatewayd_db_commit_batches_total "):
            return float(line.split()[1])
    return float("nan")


def _tables(database: Path) -> list[tuple[str, int, int, int]]:
    """(table, rows, index entries, bytes with its indexes) of every table with rows."""
    with sqlite3.connect(database) as db:
        names = [n for (n,) in db.execute("select name from sqlite_schema where type='table'")]
        sizes = dict(
            db.execute(
                "select coalesce(s.tbl_name, d.name), sum(d.pgsize) from dbstat d "
                "left join sqlite_schema s on s.name = d.name group by 1"
            ).fetchall()
        )
        found = []
        for name in names:
            (rows,) = db.execute(f'select count(*) from "{name}"').fetchone()
            indexes = len(db.execute(f'pragma index_list("{name}")').fetchall())
            if rows and name != "alembic_version":
                found.append((name, rows, rows * indexes, sizes.get(name, 0)))
    return sorted(found, key=lambda t: -t[3])


def run(args: argparse.Namespace) -> None:
    directory = Path(tempfile.mkdtemp(prefix="gatewayd-rows-"))
    database = directory / "gatewayd.db"
    with Processes(directory) as processes:
        smsc = start_simulator(processes, args.receipt_delay)
        receiver = start_receiver(processes)
        hook = f"http://127.0.0.1:{receiver}/hook/rows"
        gatewayd = start_gatewayd(processes, f"sqlite:///{database}", smsc, hook)
        wait_gatewayd_bound(gatewayd)
        pid = gatewayd.process.pid

        def request(n: int) -> Request:
            body = {"apiKey": KEY, "to": f"3247{n:07d}", "message": "rows per message"}
            return Request("POST", "/sms/v1/Message", json.dumps(body).encode())

        pacer = Pacer(
            gatewayd.http_port,
            args.rate,
            args.messages,
            request,
            lambda status, body: status == 200 and b'"MessageId":"' in body,
            headers={"Content-Type": "application/json"},
        )
        before, commits_before = _io(pid), _commits(gatewayd.admin_port)
        pacer.run(time.monotonic())

        def settled() -> bool:
            with sqlite3.connect(database) as db:
                (open_messages,) = db.execute(
                    "select count(*) from messages where time_done is null"
                ).fetchone()
                (pending,) = db.execute(
                    "select count(*) from outbox where state = 'pending'"
                ).fetchone()
            return open_messages == 0 and pending == 0

        wait_until(settled, "every message final and its webhooks sent", timeout=args.timeout)
        after, commits_after = _io(pid), _commits(gatewayd.admin_port)
        processes.stop(gatewayd.process)
        tables = _tables(database)
    n = args.messages
    print(
        f"rows per message: {n:,} messages at {args.rate:g}/s, one recipient each, a status "
        "webhook for every status; gatewayd on SQLite, node-smpp SMSC"
    )
    print(f"{'table':<20}{'rows':>8}{'index entries':>15}{'bytes':>10}")
    for name, rows, entries, size in tables:
        print(f"{name:<20}{rows / n:>8.2f}{entries / n:>15.2f}{size / n:>10,.0f}")
    total_rows = sum(t[1] for t in tables) / n
    total_entries = sum(t[2] for t in tables) / n
    total_bytes = sum(t[3] for t in tables) / n
    print(f"{'all':<20}{total_rows:>8.2f}{total_entries:>15.2f}{total_bytes:>10,.0f}")
    wchar = (after["wchar"] - before["wchar"]) / n
    written = (after["write_bytes"] - before["write_bytes"]) / n
    commits = (commits_after - commits_before) / n
    print(
        f"the daemon wrote {wchar:,.0f} bytes a message in write calls ({wchar / 4096:.1f} "
        f"pages of 4 KiB), {written:,.0f} reached the disk; {commits:.2f} commits a message"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--receipt-delay", type=float, default=0.5)
    parser.add_argument("--timeout", type=float, default=120)
    run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
