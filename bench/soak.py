"""Soak: gatewayd under a steady load for minutes; does its memory or its backlog grow?

gatewayd (SQLite) submits to the SMSC simulator (`gatewayd simulate-smsc`, its own process)
and posts its status webhooks to bench/receiver.py (its own process). A paced, open-loop
load generator sends --rate messages/s (one recipient each, over up to 256 keep-alive
connections) for --seconds. Every --sample seconds it records gatewayd's RSS (VmRSS) and
CPU (% of one core), how busy the whole machine was (% of all cores: other work there skews
the figures), messages accepted and final (gatewayd's /metrics on the admin listener),
webhooks received (the receiver), the backlog (accepted - final webhooks received),
webhooks pending (statuses that make a webhook - webhooks received) and the queue gauges of
/metrics. After the load, the backlog must drain: every accepted message must reach the
receiver as a final status.

The verdict (exit status 1 when it fails): the memory slope over the second half of the
load (least squares, KiB/min) stays under --max-slope, the backlog does not grow over the
second half by more than 2% of the rate per second, and the backlog drains.

With --retention-s, every kind of record is kept that many seconds (swept every sixth of
it): the database file must then stop growing, its slope over the second half at most
--max-db-slope KiB/min. The rows also show the database file and its write-ahead log, and
the messages table's rows (gatewayd_table_rows).

    .venv/bin/python bench/soak.py [--seconds 300] [--rate 100] [--sample 10]
        [--receipt-delay 0.5] [--max-slope 1024] [--retention-s 60] [--max-db-slope 256]
"""

import argparse
import asyncio
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import (
    KEY,
    Gatewayd,
    Processes,
    cpu_seconds,
    host_cpu_times,
    http_get,
    rss_kib,
    start_gatewayd,
    start_receiver,
    start_simulator,
    wait_gatewayd_bound,
)

CONNECTIONS = 256
BACKLOG_SLOPE_SHARE = 0.02  # of the rate, per second
DRAIN_S = 120.0
TEXT = "Soak message, about sixty characters long, plain text only."


@dataclass
class Generated:
    """The load generator's own counts."""

    sent: int = 0
    accepted: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    worst_lag: float = 0.0


@dataclass(frozen=True)
class Sample:
    t: float
    rss_kib: int
    cpu_percent: float
    host_busy_percent: float
    accepted: int
    final: int
    hooks: int
    final_hooks: int
    pending_hooks: int
    write_queue: int
    window: int
    db_bytes: int
    wal_bytes: int
    message_rows: int

    @property
    def backlog(self) -> int:
        return self.accepted - self.final_hooks


class Client:
    """One keep-alive HTTP/1.1 connection posting to the Message API."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self.streams
        writer.write(
            b"POST /sms/v1/Message HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?i)content-length:\s*(\d+)", head)
        answer = await reader.readexactly(int(length[1]) if length else 0)
        return int(head.split(b" ", 2)[1]), answer

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def generate(port: int, rate: float, seconds: float, counts: Generated) -> None:
    """Send rate x seconds messages, the nth due at start + n / rate (open loop)."""
    idle: asyncio.Queue[Client] = asyncio.Queue()
    for _ in range(CONNECTIONS):
        idle.put_nowait(Client(port))
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with asyncio.TaskGroup() as tasks:
        for n in range(int(rate * seconds)):
            due = start + n / rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            client = await idle.get()
            counts.worst_lag = max(counts.worst_lag, loop.time() - due)
            tasks.create_task(send(client, n, idle, counts))


async def send(client: Client, n: int, idle: asyncio.Queue[Client], counts: Generated) -> None:
    body = json.dumps(
        {"apiKey": KEY, "to": f"3247{n % 10_000_000:07d}", "message": TEXT, "reference": f"{n}"}
    ).encode()
    counts.sent += 1
    started = time.monotonic()
    try:
        status, answer = await asyncio.wait_for(client.post(body), timeout=30)
    except (OSError, asyncio.IncompleteReadError, TimeoutError):
        client.close()
        counts.failed += 1
    else:
        if status == 200 and b'"MessageId"' in answer:
            counts.accepted += 1
            counts.latencies.append(time.monotonic() - started)
        else:
            counts.failed += 1
    idle.put_nowait(client)


def metric(text: str, name: str, exclude: str | None = None) -> float:
    """The sum of a metric's samples; `exclude` drops those whose labels contain it."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")) and not (exclude and exclude in line):
            total += float(line.rsplit(" ", 1)[1])
    return total


def file_bytes(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


class Sampler:
    def __init__(self, gatewayd: Gatewayd, receiver: int, database: Path) -> None:
        self.gatewayd = gatewayd
        self.receiver = receiver
        self.database = database
        self.start = time.monotonic()
        self._cpu = (self.start, cpu_seconds(gatewayd.process.pid))
        self._host = host_cpu_times()

    def sample(self) -> Sample:
        pid = self.gatewayd.process.pid
        metrics = http_get(f"http://127.0.0.1:{self.gatewayd.admin_port}/metrics")
        hooks = json.loads(http_get(f"http://127.0.0.1:{self.receiver}/stats/soak"))
        now, cpu = time.monotonic(), cpu_seconds(pid)
        cpu_percent = 100 * (cpu - self._cpu[1]) / (now - self._cpu[0])
        self._cpu = (now, cpu)
        host = host_cpu_times()
        busy, total = host[0] - self._host[0], host[1] - self._host[1]
        self._host = host
        received = hooks["final"] + hooks["non_final"] + hooks["duplicates"]
        statuses = metric(metrics, "gatewayd_message_statuses_total")
        return Sample(
            t=now - self.start,
            rss_kib=rss_kib(pid),
            cpu_percent=cpu_percent,
            host_busy_percent=100 * busy / total if total else 0.0,
            accepted=int(metric(metrics, "gatewayd_messages_accepted_total")),
            final=int(metric(metrics, "gatewayd_message_statuses_total", 'status="Submitted"')),
            hooks=received,
            final_hooks=hooks["final"],
            pending_hooks=int(statuses) - received,
            write_queue=int(metric(metrics, "gatewayd_db_write_queue")),
            window=int(metric(metrics, "gatewayd_carrier_window_in_use")),
            db_bytes=file_bytes(self.database),
            wal_bytes=file_bytes(self.database.with_name(self.database.name + "-wal")),
            message_rows=int(metric(metrics, 'gatewayd_table_rows{table="messages"}')),
        )


async def soak(
    gatewayd: Gatewayd, receiver: int, database: Path, args
) -> tuple[list[Sample], Sample, Generated]:
    """The samples taken during the load, the last one of the drain after it, the load's counts."""
    sampler = Sampler(gatewayd, receiver, database)
    counts = Generated()
    await asyncio.sleep(1)  # the first row: gatewayd and the machine before the load
    samples = [await asyncio.to_thread(sampler.sample)]
    print_sample(samples[0])
    load = asyncio.create_task(generate(gatewayd.http_port, args.rate, args.seconds, counts))
    while not load.done():
        await asyncio.wait([load], timeout=args.sample - samples[-1].t % args.sample)
        samples.append(await asyncio.to_thread(sampler.sample))
        print_sample(samples[-1])
    await load
    drained = samples[-1]
    deadline = time.monotonic() + DRAIN_S
    while drained.final_hooks < counts.accepted and time.monotonic() < deadline:
        await asyncio.sleep(1)
        drained = await asyncio.to_thread(sampler.sample)
    print_sample(drained, "drained" if drained.backlog == 0 else "NOT drained")
    return samples, drained, counts


HEADER = (
    f"{'t s':>6} {'RSS MiB':>8} {'CPU %':>6} {'host %':>6} {'accepted':>9} {'final':>9} "
    f"{'hooks':>9} {'final hooks':>11} {'backlog':>8} {'hooks pending':>13} "
    f"{'write queue':>11} {'window':>7} {'DB MiB':>7} {'WAL MiB':>7} {'msg rows':>9}"
)


def print_sample(s: Sample, note: str = "") -> None:
    print(
        f"{s.t:>6.1f} {s.rss_kib / 1024:>8.1f} {s.cpu_percent:>6.0f} "
        f"{s.host_busy_percent:>6.0f} {s.accepted:>9,} {s.final:>9,} {s.hooks:>9,} "
        f"{s.final_hooks:>11,} {s.backlog:>8,} {s.pending_hooks:>13,} {s.write_queue:>11,} "
        f"{s.window:>7} {s.db_bytes / 2**20:>7.2f} {s.wal_bytes / 2**20:>7.2f} "
        f"{s.message_rows:>9,} {note}",
        flush=True,
    )


def slope_per_s(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0


def verdict(samples: list[Sample], drained: Sample, counts: Generated, args) -> list[str]:
    """What failed; nothing when memory and backlog stayed bounded and the backlog drained."""
    second_half = [s for s in samples if s.t >= args.seconds / 2]
    memory = slope_per_s([(s.t, s.rss_kib) for s in second_half]) * 60
    backlog = slope_per_s([(s.t, s.backlog) for s in second_half])
    limit = BACKLOG_SLOPE_SHARE * args.rate
    latencies = sorted(counts.latencies) or [0.0]
    print(
        f"load: {counts.sent:,} sent in {args.seconds} s at {args.rate:g}/s, "
        f"{counts.accepted:,} accepted, {counts.failed:,} failed; latency p50 "
        f"{latencies[len(latencies) // 2] * 1000:.1f} ms, p99 "
        f"{latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms; the generator ran at most "
        f"{counts.worst_lag * 1000:.0f} ms late"
    )
    print(
        f"second half ({len(second_half)} samples): memory {memory:+,.0f} KiB/min "
        f"(limit {args.max_slope:,.0f}), backlog {backlog:+.2f} messages/s (limit {limit:.2f})"
    )
    failures = []
    if memory > args.max_slope:
        failures.append(f"memory grows {memory:,.0f} KiB/min")
    if backlog > limit:
        failures.append(f"backlog grows {backlog:.2f} messages/s")
    if drained.backlog:
        failures.append(f"{drained.backlog:,} accepted messages without a final webhook")
    if counts.failed:
        failures.append(f"{counts.failed:,} requests failed")
    if args.retention_s is not None:
        database = slope_per_s([(s.t, s.db_bytes / 1024) for s in second_half]) * 60
        print(
            f"database with {args.retention_s:g} s retention: {database:+,.0f} KiB/min over the "
            f"second half (limit {args.max_db_slope:,.0f}); "
            f"{samples[-1].db_bytes / 2**20:.2f} MiB at the end of the load"
        )
        if database > args.max_db_slope:
            failures.append(f"the database grows {database:,.0f} KiB/min")
    return failures


def retention_config(seconds: float) -> str:
    """Every kind of record kept `seconds`, swept every sixth of that (at least every 2 s)."""
    days = seconds / 86_400
    kinds = [
        "messages",
        "receipts",
        "unmatched_receipts",
        "incoming",
        "fetched_poll",
        "unfetched_poll",
        "outbox",
        "request_logs",
    ]
    ages = ", ".join(f"{kind}_days: {days:.9f}" for kind in kinds)
    return f"retention: {{every_s: {max(2.0, seconds / 6):g}, {ages}}}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--rate", type=float, default=100, help="messages/s")
    parser.add_argument("--sample", type=float, default=10, metavar="SECONDS")
    parser.add_argument("--receipt-delay", type=float, default=0.5, metavar="SECONDS")
    parser.add_argument(
        "--max-slope", type=float, default=1024, metavar="KIB_PER_MIN", help="memory growth"
    )
    parser.add_argument(
        "--retention-s",
        type=float,
        metavar="SECONDS",
        help="keep every kind of record this long (default: the configuration's defaults)",
    )
    parser.add_argument(
        "--max-db-slope",
        type=float,
        default=256,
        metavar="KIB_PER_MIN",
        help="with --retention-s: database file growth over the second half",
    )
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="gatewayd-soak-"))
    with Processes(directory) as processes:
        receiver = start_receiver(processes)
        smsc = start_simulator(processes, args.receipt_delay)
        database = directory / "gatewayd.db"
        gatewayd = start_gatewayd(
            processes,
            f"sqlite:///{database}",
            smsc,
            f"http://127.0.0.1:{receiver}/hook/soak",
            extra_config=retention_config(args.retention_s) if args.retention_s else "",
        )
        wait_gatewayd_bound(gatewayd)
        print(
            f"soak: {args.rate:g} messages/s for {args.seconds} s, gatewayd on SQLite, receipts "
            f"after {args.receipt_delay:g} s; {os.cpu_count()} cores, load average "
            f"{os.getloadavg()[0]:.2f} before the run"
        )
        print(HEADER)
        samples, drained, counts = asyncio.run(soak(gatewayd, receiver, database, args))
    failures = verdict(samples, drained, counts, args)
    print(f"logs: {directory}")
    if failures:
        raise SystemExit("verdict: FAIL: " + "; ".join(failures))
    print("verdict: PASS (memory and backlog bounded, backlog drained)")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        raise SystemExit("interrupted; every process this run started is stopped") from None
