"""Webhook deliveries per second from gatewayd's egress to a fast receiver.

The receiver is gatewayd's own HTTP server in a separate process answering 200 at once; the
sender posts JSON status records through `Egress`, the exact code path the outbox uses
(keep-alive pools on trio, httptools parsing the answers), with 1, 4 and 32 requests in flight,
and the sender's CPU time per delivery (the receiver's is not counted). The same load through
an httpx.AsyncClient on trio is measured beside it: the transport gatewayd replaced.

`--outbox` measures the whole sender instead: jobs added in bursts (one writer transaction
each) to a SQLite file, claimed, sent and recorded by `WebhookOutbox`, with the process's CPU
time (writer thread included) per delivered job. PYTHONPATH names the checkout measured, so
two checkouts compare with the same script.

    .venv/bin/python bench/webhooks.py [--requests 3000]
    PYTHONPATH=. .venv/bin/python bench/webhooks.py --outbox [--requests 3000] [--burst 100]
"""

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import trio
from common import free_port, wait_port
from sqlalchemy import func, select

from gatewayd.config.schema import DatabaseConfig, WebhooksConfig
from gatewayd.core.webhook_outbox import WebhookOutbox
from gatewayd.daemon import prepare_database
from gatewayd.protocols.webhooks.egress import Egress
from gatewayd.protocols.webhooks.formats import build_request
from gatewayd.storage.outbox import add_jobs
from gatewayd.storage.tables import outbox
from gatewayd.storage.writer import Writer

RECEIVER = """
import trio
from gatewayd.protocols.http.messages import Response
from gatewayd.protocols.http.server import HttpServer, ServerLimits

async def ok(request):
    return Response(200, b"ok")

trio.run(HttpServer("receiver", ["127.0.0.1:{port}"], ok, ServerLimits()).run)
"""
RECORD = {
    "MessageId": "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b",
    "Reference": "order-42",
    "StatusCode": "200",
    "StatusDescription": "Delivered",
    "To": "32470000001",
    "Message": "Hello",
}


Measured = tuple[float, float, int, float]
"""deliveries/s, p99 ms, failures, the sender's CPU ms per delivery"""


async def measure(url: str, requests: int, concurrency: int) -> Measured:
    egress = Egress([], max_per_host=concurrency)
    latencies: list[float] = []
    failures = 0
    remaining = requests

    async def sender():
        nonlocal remaining, failures
        while remaining > 0:
            remaining -= 1
            attempt = await egress.send(build_request("status", "POST", "JSON", url, RECORD), {})
            latencies.append(attempt.duration_s)
            failures += not attempt.delivered

    started, cpu = time.perf_counter(), time.process_time()
    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(sender)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    await egress.aclose()
    return _measured(requests, elapsed, latencies, failures, cpu)


def _measured(
    requests: int, elapsed: float, latencies: list[float], failures: int, cpu: float
) -> Measured:
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    return requests / elapsed, p99, failures, cpu * 1000 / requests


async def measure_httpx(url: str, requests: int, concurrency: int) -> Measured:
    import httpx

    latencies: list[float] = []
    failures = 0
    remaining = requests
    request = build_request("status", "POST", "JSON", url, RECORD)
    async with httpx.AsyncClient(timeout=10) as client:

        async def sender():
            nonlocal remaining, failures
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                response = await client.post(url, content=request.body, headers=request.headers)
                latencies.append(time.perf_counter() - started)
                failures += response.status_code != 200

        started, cpu = time.perf_counter(), time.process_time()
        async with trio.open_nursery() as nursery:
            for _ in range(concurrency):
                nursery.start_soon(sender)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return _measured(requests, elapsed, latencies, failures, cpu)


async def measure_outbox(url: str, jobs: int, burst: int) -> tuple[float, float, float]:
    """(delivered jobs/s, CPU ms per job, writer batches per job) through WebhookOutbox."""
    with tempfile.TemporaryDirectory() as folder:
        database = DatabaseConfig(url=f"sqlite:///{Path(folder) / 'outbox.db'}", auto_migrate=True)
        engine = await trio.to_thread.run_sync(prepare_database, database)
        writer = Writer(engine)
        egress = Egress([], max_per_host=32)
        holder = SimpleNamespace(
            current=SimpleNamespace(
                config=SimpleNamespace(webhooks=WebhooksConfig()),
                directory=SimpleNamespace(by_name={}),
            )
        )
        sender = WebhookOutbox(holder, writer, egress, "bench", lambda: datetime.now(UTC))
        done = select(func.count()).select_from(outbox).where(outbox.c.state == "delivered")

        def delivered() -> int:
            with engine.connect() as connection:
                return connection.execute(done).scalar_one()

        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            await nursery.start(sender.run)
            started, cpu, batches = time.perf_counter(), time.process_time(), writer.batches
            for first in range(0, jobs, burst):
                now = datetime.now(UTC)
                rows = [_job(url, now, n) for n in range(first, min(jobs, first + burst))]
                await writer.write(lambda connection, rows=rows: add_jobs(connection, rows))
            while delivered() < jobs:
                await writer.wait_commit()
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            batches = writer.batches - batches
            nursery.cancel_scope.cancel()
        await egress.aclose()
        engine.dispose()
    return jobs / elapsed, cpu * 1000 / jobs, batches / jobs


def _job(url: str, now: datetime, n: int) -> dict:
    return {
        "channel": "webhook",
        "application": "shop",
        "kind": "status",
        "message_id": f"m{n}",
        "url": url,
        "method": "POST",
        "format": "JSON",
        "record": RECORD,
        "state": "pending",
        "attempts": 0,
        "time_created": now,
        "next_attempt_at": now,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--outbox", action="store_true", help="measure WebhookOutbox whole")
    parser.add_argument("--burst", type=int, default=100, help="jobs added per transaction")
    args = parser.parse_args()
    port = free_port()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER.replace("{port}", str(port))])
    try:
        wait_port(port)
        url = f"http://127.0.0.1:{port}/hook"
        if args.outbox:
            rate, cpu, batches = trio.run(measure_outbox, url, args.requests, args.burst)
            print(
                f"WebhookOutbox, {args.requests} jobs added {args.burst} a transaction: "
                f"{rate:,.0f} jobs/s, {cpu:.3f} CPU ms a job, {batches:.3f} writer batches a job"
            )
            return
        print(f"{args.requests} JSON status webhooks per setting, receiver in its own process")
        print(
            f"{'transport':22} {'in flight':>9} {'deliveries/s':>13} {'p99 ms':>8} "
            f"{'failed':>7} {'CPU ms each':>12}"
        )
        for name, function in [
            ("gatewayd (httptools)", measure),
            ("httpx.AsyncClient", measure_httpx),
        ]:
            for concurrency in (1, 4, 32):
                rate, p99, failures, cpu = trio.run(function, url, args.requests, concurrency)
                print(
                    f"{name:22} {concurrency:>9} {rate:>13,.0f} {p99:>8.1f} {failures:>7} "
                    f"{cpu:>12.3f}"
                )
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)


if __name__ == "__main__":
    main()
