"""end_to_end.py's paced mode: each gateway at a steady --rate requests/s for --seconds, its
CPU per delivered message over that window only.

The pacer (pacer.py, threads of this process) sends --warmup seconds of requests with ids
"w<n>", then --seconds of them with ids "m<n>" on the same schedule; the window opens when
the first "m" request is due and closes when the sink received the last "m" final
(GET /finals/RUN?prefix=m). CPU (/proc/PID/stat utime + stime, every thread and running
descendant) is read when the window opens, and sampled every 10 ms once the pacer stopped:
the window's figure is the first sample taken at or after the last final's arrival. The
warm-up's messages still finishing when the window opens stand for the window's last
messages finishing after the window's load stopped, so the work in the window is that of
its own messages. With --strace, `strace -c -f -p PID` is attached to gatewayd for the
window (ptrace stops gatewayd at every system call, which changes its timing and batching:
take CPU figures from a run without it).
"""

import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

import old_messages
from common import (
    KEY,
    Processes,
    cpu_seconds,
    drop_postgres_database,
    host_cpu_times,
    http_get,
    migrate,
    postgres_database,
    start_gatewayd,
    start_kannel,
    start_receiver,
    start_simulator,
    wait_gatewayd_bound,
    wait_kannel_bound,
)
from pacer import Pacer, Request

TEXT = "Benchmark message, about sixty characters long, plain text."
RECIPIENT = "32470000001"
KANNEL_DLR_MASK = 1 + 2 + 16  # delivered, undeliverable, rejected by the SMSC: finals only
CPU_SAMPLE_S = 0.01
FINALS_POLL_S = 0.1
STALL_S = 30.0
IDLE_S = 2.0
STRACE_TOP = 6
PEER_LOGS = {"SMSC (peer)": "simulator.log", "sink (peer)": "receiver.log"}
PACER = "bench: pacer, sampling"
COMMITS = re.compile(r"^gatewayd_db_commit_batches(?:_total)? (\S+)$", re.M)
STRACE_ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$", re.M)

CpuReaders = dict[str, Callable[[], float]]


@dataclass(frozen=True)
class Gateway:
    """One gateway under paced load: where to send, how to tell an acceptance, its processes."""

    name: str
    run: str
    port: int
    request: Callable[[str], Request]
    accepted: Callable[[int, bytes], bool]
    processes: CpuReaders
    headers: dict[str, str]
    metrics_url: str | None = None
    strace_pid: int | None = None


@dataclass(frozen=True)
class Syscalls:
    total: int
    top: list[tuple[str, int]]


@dataclass(frozen=True)
class PacedResult:
    name: str
    seconds: float
    sent: int
    accepted: int
    failed: int
    p50_ms: float
    p99_ms: float
    max_late_ms: float
    finals: int
    window_s: float
    finals_s: float
    """From the window's first final to its last."""
    cpu_s: dict[str, float]
    gateway_parts: list[str]
    host_busy_percent: float
    commits: float | None
    syscalls: Syscalls | None

    @property
    def missing(self) -> int:
        return self.accepted - self.finals

    @property
    def gateway_cpu_s(self) -> float:
        return sum(self.cpu_s[part] for part in self.gateway_parts)

    def ms_per_message(self, cpu_s: float) -> float:
        return 1000 * cpu_s / self.finals if self.finals else 0.0

    def core_percent(self, cpu_s: float) -> float:
        return 100 * cpu_s / self.window_s if self.window_s > 0 else 0.0

    def per_message(self, count: float) -> float:
        return count / self.finals if self.finals else 0.0


def read_cpu(readers: CpuReaders) -> dict[str, float]:
    return {part: read() for part, read in readers.items()}


def process_cpu() -> float:
    times = os.times()
    return times.user + times.system


def commit_batches(url: str | None) -> float | None:
    if url is None:
        return None
    found = COMMITS.search(http_get(url))
    return float(found[1]) if found else None


def parse_strace(output: str) -> Syscalls:
    rows = [(name, int(calls)) for calls, name in STRACE_ROW.findall(output) if name != "total"]
    rows.sort(key=lambda row: -row[1])
    return Syscalls(sum(calls for _, calls in rows), rows[:STRACE_TOP])


def wait_finals(receiver: int, run: str, expected: int, readers: CpuReaders, timeout: float):
    """Sample the CPU until the sink holds `expected` window finals (or none came for
    STALL_S, or `timeout`): (finals, first and last final's times, CPU at the last)."""
    samples: list[tuple[float, dict[str, float]]] = []
    deadline = time.monotonic() + timeout
    progress, seen, polled, first, last = time.monotonic(), -1, 0.0, None, None
    while True:
        now = time.monotonic()
        samples.append((now, read_cpu(readers)))
        if now - polled >= FINALS_POLL_S:
            polled = now
            finals = json.loads(http_get(f"http://127.0.0.1:{receiver}/finals/{run}?prefix=m"))
            if finals["final"] != seen:
                progress, seen = now, finals["final"]
                first, last = finals["first"], finals["last"]
            if seen >= expected or now - progress > STALL_S or now > deadline:
                break
        time.sleep(CPU_SAMPLE_S)
    at = last if last is not None else samples[-1][0]
    cpu = next((cpu for t, cpu in samples if t >= at), samples[-1][1])
    return seen, first if first is not None else at, at, cpu


def measure(processes: Processes, gateway: Gateway, receiver: int, args) -> PacedResult:
    warm = round(args.rate * args.warmup)
    count = warm + round(args.rate * args.seconds)

    def request(n: int) -> Request:
        return gateway.request(f"w{n}" if n < warm else f"m{n}")

    pacer = Pacer(
        gateway.port,
        args.rate,
        count,
        request,
        gateway.accepted,
        args.connections,
        gateway.headers,
    )
    peers = {part: _log_cpu(processes, log) for part, log in PEER_LOGS.items()}
    readers = gateway.processes | peers | {PACER: process_cpu}
    start_at = time.monotonic() + 0.2
    sending = threading.Thread(target=pacer.run, args=(start_at,), daemon=True)
    sending.start()
    window_at = pacer.due(warm)
    time.sleep(max(0.0, window_at - time.monotonic() - 0.05))
    commits_before = commit_batches(gateway.metrics_url)
    time.sleep(max(0.0, window_at - time.monotonic()))
    cpu_before, host_before = read_cpu(readers), host_cpu_times()
    strace = None
    if args.strace and gateway.strace_pid is not None:
        output = processes.directory / f"strace-{gateway.run}.txt"
        command = ["strace", "-c", "-f", "-o", str(output), "-p", str(gateway.strace_pid)]
        strace = (processes.start(command, f"strace-{gateway.run}.log"), output)
    sending.join()
    window = pacer.answers(warm, count)
    finals, first_final, last, cpu_after = wait_finals(
        receiver, gateway.run, window.accepted, readers, args.timeout
    )
    syscalls = None
    if strace:
        strace[0].send_signal(signal.SIGINT)
        strace[0].wait(timeout=30)
        processes.stop(strace[0])
        syscalls = parse_strace(strace[1].read_text())
    busy, total = (a - b for a, b in zip(host_cpu_times(), host_before, strict=True))
    commits_after = commit_batches(gateway.metrics_url)
    commits = (
        commits_after - commits_before
        if commits_after is not None and commits_before is not None
        else None
    )
    time.sleep(IDLE_S)
    return PacedResult(
        name=gateway.name,
        seconds=args.seconds,
        sent=window.sent,
        accepted=window.accepted,
        failed=window.failed,
        p50_ms=window.percentile_ms(50),
        p99_ms=window.percentile_ms(99),
        max_late_ms=1000 * window.max_late_s,
        finals=finals,
        window_s=last - window_at,
        finals_s=last - first_final,
        cpu_s={part: cpu_after[part] - cpu_before[part] for part in readers},
        gateway_parts=list(gateway.processes),
        host_busy_percent=100 * busy / total if total else 0.0,
        commits=commits,
        syscalls=syscalls,
    )


def _log_cpu(processes: Processes, log: str) -> Callable[[], float]:
    return lambda: processes.cpu_seconds_by_log().get(log, 0.0)


def postgres_backends(database: str) -> list[int]:
    """The server processes serving `database` (gatewayd's pooled connections)."""
    import psycopg

    server, name = database.rsplit("/", 1)
    with psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=3) as db:
        rows = db.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return [pid for (pid,) in rows]


def run_gatewayd(processes: Processes, database: str, smsc: int, receiver: int, args):
    store = database.split(":")[0]
    run = f"paced-gatewayd-{store}"
    name = f"gatewayd {store}"
    if args.old_messages:
        migrate(database)
        seconds = old_messages.fill(database, args.old_messages)
        print(f"{name}: {args.old_messages:,} older messages stored in {seconds:.0f} s")
    hook = f"http://127.0.0.1:{receiver}/hook/{run}"
    gatewayd = start_gatewayd(
        processes,
        database,
        smsc,
        hook,
        final_only=True,
        max_per_host=32,
        commit_interval_s=args.commit_interval_s,
    )
    try:
        wait_gatewayd_bound(gatewayd)
        pid = gatewayd.process.pid
        readers: CpuReaders = {"gatewayd": lambda: cpu_seconds(pid)}
        if store.startswith("postgres"):
            backends = postgres_backends(database)
            readers["PostgreSQL backends"] = lambda: sum(cpu_seconds(p) for p in backends)

        def request(message_id: str) -> Request:
            body = {"apiKey": KEY, "to": RECIPIENT, "message": TEXT, "reference": message_id}
            return Request("POST", "/sms/v1/Message", json.dumps(body).encode())

        gateway = Gateway(
            name=name,
            run=run,
            port=gatewayd.http_port,
            request=request,
            accepted=lambda status, body: 200 <= status < 300 and b'"MessageId":"' in body,
            processes=readers,
            headers={"Content-Type": "application/json"},
            metrics_url=f"http://127.0.0.1:{gatewayd.admin_port}/metrics",
            strace_pid=pid,
        )
        return measure(processes, gateway, receiver, args)
    finally:
        processes.stop(gatewayd.process)


def run_kannel(processes: Processes, smsc: int, receiver: int, args) -> PacedResult:
    kannel = start_kannel(processes, smsc)
    try:
        wait_kannel_bound(kannel)
        bearerbox, smsbox = kannel.bearerbox.pid, kannel.smsbox.pid
        path = (
            f"/cgi-bin/sendsms?username=bench&password=bench&from=8686&to={RECIPIENT}"
            f"&text={quote_plus(TEXT)}&dlr-mask={KANNEL_DLR_MASK}&dlr-url="
        )

        def request(message_id: str) -> Request:
            dlr_url = f"http://127.0.0.1:{receiver}/hook/paced-kannel?type=%d&id={message_id}"
            return Request("GET", path + quote(dlr_url, safe=""))

        gateway = Gateway(
            name="Kannel 1.4.5",
            run="paced-kannel",
            port=kannel.sendsms_port,
            request=request,
            accepted=lambda status, body: 200 <= status < 300 and body[:3] in (b"0: ", b"3: "),
            processes={
                "bearerbox": lambda: cpu_seconds(bearerbox),
                "smsbox": lambda: cpu_seconds(smsbox),
            },
            headers={},
        )
        return measure(processes, gateway, receiver, args)
    finally:
        processes.stop(kannel.smsbox)
        processes.stop(kannel.bearerbox)


def run_all(processes: Processes, args) -> list[PacedResult]:
    receiver = start_receiver(processes, args.peers)
    smsc = start_simulator(processes, args.receipt_delay, args.peers)
    directory = processes.directory
    results = [run_gatewayd(processes, f"sqlite:///{directory}/paced.db", smsc, receiver, args)]
    database = None if args.skip_postgres else postgres_database()
    if database:
        try:
            results.append(run_gatewayd(processes, database, smsc, receiver, args))
        finally:
            drop_postgres_database(database)
    results.append(run_kannel(processes, smsc, receiver, args))
    return results


def cpu_cell(result: PacedResult, cpu_s: float | None) -> str:
    if cpu_s is None:
        return ""
    ms = result.ms_per_message(cpu_s)
    return f"{ms:.2f} ms {result.core_percent(cpu_s):4.1f}%"


def print_table(results: list[PacedResult], load_before: float, args) -> None:
    kannel = results[-1]
    gatewayds = results[:-1]
    width = max(22, 2 + max(len(r.name) for r in results))
    print(
        f"paced: {args.rate:g} requests/s for {args.seconds:g} s after {args.warmup:g} s of "
        f"warm-up, {args.connections} keep-alive connections, 1 recipient a request, receipts "
        f"after {args.receipt_delay:g} s, {args.peers} peers; loopback, {os.cpu_count()} "
        f"cores, load average {load_before:.2f} before the run"
    )
    print(
        "CPU: ms per delivered message and % of one core, over the window (first measured "
        "request due -> last final arrived)"
    )
    header = f"{'':34}" + "".join(f"{r.name:>{width}}" for r in results)
    header += "".join(
        f"{r.name.removeprefix('gatewayd ') + ' / Kannel':>{width}}" for r in gatewayds
    )
    print(header)

    def line(label: str, cells: list[str], ratios: list[str] | None = None) -> None:
        row = f"{label:34}" + "".join(f"{cell:>{width}}" for cell in cells)
        print(row + "".join(f"{cell:>{width}}" for cell in ratios or []))

    def numbers(label: str, value: Callable[[PacedResult], float], form: str, ratio=True):
        base = value(kannel)
        ratios = [f"{value(r) / base:.2f}x" if ratio and base else "" for r in gatewayds]
        line(label, [format(value(r), form) for r in results], ratios)

    numbers("offered req/s", lambda r: r.sent / r.seconds, ",.1f", ratio=False)
    numbers("accepted req/s", lambda r: r.accepted / r.seconds, ",.1f")
    numbers("delivered/s", lambda r: (r.finals - 1) / r.finals_s if r.finals_s else 0.0, ",.1f")
    numbers("  final callbacks", lambda r: r.finals, ",d", ratio=False)
    numbers("  missing (accepted - final)", lambda r: r.missing, ",d", ratio=False)
    numbers("  failed requests", lambda r: r.failed, ",d", ratio=False)
    numbers("  window s (to the last final)", lambda r: r.window_s, ".2f", ratio=False)
    numbers("accept latency p50 ms", lambda r: r.p50_ms, ".1f")
    numbers("accept latency p99 ms", lambda r: r.p99_ms, ".1f")
    numbers("  latest send behind schedule ms", lambda r: r.max_late_ms, ".1f", ratio=False)
    ratios = [
        f"{r.gateway_cpu_s / kannel.gateway_cpu_s * kannel.finals / r.finals:.2f}x"
        if kannel.gateway_cpu_s and r.finals
        else ""
        for r in gatewayds
    ]
    line("CPU: gateway", [cpu_cell(r, r.gateway_cpu_s) for r in results], ratios)
    parts = [part for r in results for part in r.gateway_parts]
    for part in dict.fromkeys(parts):
        line(f"  {part}", [cpu_cell(r, r.cpu_s.get(part)) for r in results])
    for part in [*PEER_LOGS, PACER]:
        line(f"CPU: {part}", [cpu_cell(r, r.cpu_s[part]) for r in results])
    numbers("machine CPU busy %, all cores", lambda r: r.host_busy_percent, ".0f", ratio=False)
    line(
        "commits per message",
        [f"{r.per_message(r.commits):.3f}" if r.commits is not None else "" for r in results],
    )
    for r in results:
        if r.syscalls:
            top = ", ".join(f"{name} {r.per_message(calls):.1f}" for name, calls in r.syscalls.top)
            print(
                f"{r.name}, strace -c -f: {r.per_message(r.syscalls.total):.1f} system calls a "
                f"message ({top})"
            )
    if args.strace:
        print("(strace was attached to gatewayd: take its CPU figures from a run without it)")


def shortfall(results: list[PacedResult]) -> list[str]:
    return [
        f"{r.name}: {r.sent:,} sent, {r.accepted:,} accepted, {r.missing:,} finals missing"
        for r in results
        if r.failed or r.missing or r.accepted < r.sent
    ]
