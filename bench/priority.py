"""Priority: a burst of bulk messages queued, then a few high-priority ones; how long do the
high ones wait for their submit_sm?

One gatewayd on SQLite, the node-smpp SMSC as its carrier, two applications: `bench`
(priority 0) sends `--bulk` messages in requests of 1,000 recipients, then `otp` sends
`--high` messages one request each, while the bulk is still being submitted. Each message's
submit latency is read from the database at the end (time_submitted - time_created). The run
is repeated with `otp` at priority 0, so the table shows what priority changes.

    .venv/bin/python bench/priority.py [--bulk 10000] [--high 100] [--otp-priority 3]
"""

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from common import (
    KEY,
    Processes,
    start_gatewayd,
    start_simulator,
    wait_gatewayd_bound,
    wait_until,
)

OTP_KEY = "otp-key-0123456789"
RECIPIENTS_PER_REQUEST = 1000


@dataclass(frozen=True)
class Outcome:
    high_ms: list[float]
    bulk_queued_at_first_high: int
    bulk_after_last_high: int
    bulk_seconds: float


async def _send(client: httpx.AsyncClient, key: str, recipients: list[str]) -> list[str]:
    response = await client.post(
        "/sms/v1/Message",
        content=json.dumps({"apiKey": key, "to": ",".join(recipients), "message": "hello"}),
    )
    answer = response.json()
    if answer.get("ResultCode") != 0:
        raise SystemExit(f"refused: {answer}")
    return [m["MessageId"] for m in answer["Messages"]]


async def _load(port: int, bulk: int, high: int) -> list[str]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        numbers = [f"3247{n:07d}" for n in range(bulk)]
        chunks = [
            numbers[i : i + RECIPIENTS_PER_REQUEST] for i in range(0, bulk, RECIPIENTS_PER_REQUEST)
        ]
        await asyncio.gather(*(_send(client, KEY, chunk) for chunk in chunks))
        ids: list[str] = []
        for n in range(high):
            ids += await _send(client, OTP_KEY, [f"3248{n:07d}"])
        return ids


def _outcome(database: Path, high_ids: list[str]) -> Outcome:
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "select id, application, time_created, time_submitted from messages"
        ).fetchall()
    parse = datetime.fromisoformat
    high = [(parse(c), parse(s)) for i, a, c, s in rows if a == "otp"]
    bulk = [(parse(c), parse(s)) for i, a, c, s in rows if a == "bench"]
    first_high = min(created for created, _ in high)
    last_high = max(submitted for _, submitted in high)
    return Outcome(
        high_ms=sorted((s - c).total_seconds() * 1000 for c, s in high),
        bulk_queued_at_first_high=sum(1 for _, s in bulk if s > first_high),
        bulk_after_last_high=sum(1 for _, s in bulk if s > last_high),
        bulk_seconds=(max(s for _, s in bulk) - min(c for c, _ in bulk)).total_seconds(),
    )


def run(args: argparse.Namespace, otp_priority: int) -> Outcome:
    directory = Path(tempfile.mkdtemp(prefix="gatewayd-priority-"))
    database = directory / "gatewayd.db"
    with Processes(directory) as processes:
        smsc = start_simulator(processes, args.receipt_delay)
        otp = {"name": "otp", "api_keys": [OTP_KEY], "priority": otp_priority}
        gatewayd = start_gatewayd(
            processes, f"sqlite:///{database}", smsc, more_applications=(otp,)
        )
        wait_gatewayd_bound(gatewayd)
        high_ids = asyncio.run(_load(gatewayd.http_port, args.bulk, args.high))
        total = args.bulk + args.high

        def all_submitted() -> bool:
            with sqlite3.connect(database) as db:
                (left,) = db.execute(
                    "select count(*) from messages where time_submitted is null"
                ).fetchone()
                (stored,) = db.execute("select count(*) from messages").fetchone()
            return stored == total and left == 0

        wait_until(all_submitted, "every message submitted", timeout=args.timeout)
        return _outcome(database, high_ids)


def _row(name: str, outcome: Outcome) -> str:
    ms = outcome.high_ms
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return (
        f"{name:<22}{statistics.median(ms):>10.0f}{p99:>10.0f}{max(ms):>10.0f}"
        f"{outcome.bulk_queued_at_first_high:>14,}{outcome.bulk_after_last_high:>14,}"
        f"{outcome.bulk_seconds:>10.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bulk", type=int, default=10_000)
    parser.add_argument("--high", type=int, default=100)
    parser.add_argument("--otp-priority", type=int, default=3)
    parser.add_argument("--receipt-delay", type=float, default=0.5)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    started = time.monotonic()
    with_priority = run(args, args.otp_priority)
    without = run(args, 0)
    print(
        f"priority: {args.bulk:,} bulk messages (priority 0) queued, then {args.high} from "
        f"another application, one request each; node-smpp SMSC, SQLite"
    )
    print(
        f"{'high application':<22}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}"
        f"{'bulk queued':>14}{'bulk after':>14}{'bulk s':>10}"
    )
    print(_row(f"priority {args.otp_priority}", with_priority))
    print(_row("priority 0 (as bulk)", without))
    print(
        "submit latency of the high application's messages (accepted -> recorded as "
        "submitted); bulk queued: bulk messages not yet submitted when the first high one "
        "was accepted; bulk after: bulk messages submitted after the last high one; "
        f"bulk s: first bulk accepted -> last submitted ({time.monotonic() - started:.0f} s)"
    )


if __name__ == "__main__":
    sys.exit(main())
