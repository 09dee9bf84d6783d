"""End-to-end messages per second: gatewayd beside Kannel, from the first HTTP request to the
last final status callback, with their resident memory, in one run.

One SMSC process (receipts after --receipt-delay) serves gatewayd on SQLite, gatewayd on
PostgreSQL (when the local server answers) and Kannel (Debian's bearerbox + smsbox 1.4.5), one
after the other. With --peers node (the default) the SMSC is bench/peers/smsc.js on node-smpp
and the callback receiver bench/peers/sink.js, peers nobody here wrote the protocol code of,
each far below the gateways' CPU per message; --peers python uses `gatewayd simulate-smsc` and
bench/receiver.py instead. Each gets the same load from wrk
(Debian package) and a Lua script: exactly --messages requests of one recipient each over
--concurrency keep-alive connections, every request carrying its own id (gatewayd:
`reference`; Kannel: in the dlr-url). gatewayd posts its status webhook, and Kannel fetches
its dlr-url (dlr-mask 19: delivered, undeliverable, rejected), to the receiver in its
own process, which keeps the time each id's final status arrived. gatewayd runs with
`final_statuses_only` (no Submitted webhooks, as dlr-mask 19) and `max_per_host: 32`.

accepted req/s: 2xx answers / (last answer - first request); p50/p99 from wrk.
end-to-end msg/s: final callbacks / (last final callback - first request).
RSS (VmRSS): gatewayd's processes (with its HTTP workers); Kannel's bearerbox + smsbox.
Before the load, its peak (sampled every 0.1 s until the last callback), and after (idle, 2 s
after the last one).
How busy the whole machine was meanwhile is printed too: other work there skews the figures.
CPU ms per message: CPU time (user + system) each part used from the first request to the last
final callback, divided by the callbacks: the gateway's processes (gatewayd with its HTTP
worker processes), the simulator, the receiver and wrk. A gateway that is CPU-bound in one
process can go no faster than 1000 / its figure messages per second, and the simulator's
figure bounds what any gateway can be measured at.

--workers N adds, for SQLite and PostgreSQL, a gatewayd whose Message API is served by N HTTP
worker processes (`http.workers`); the other gatewayd rows serve it in the daemon itself.

Before the gateways, the same wrk script is run against the receiver alone: that rate bounds
what the load generator and the receiver can measure, and must be far above the others.

--rate R --seconds S is the paced mode instead (bench/paced.py): each gateway at a steady R
requests/s for S seconds after --warmup seconds, over --connections keep-alive connections,
with its CPU per delivered message over that window; --strace adds gatewayd's system calls.

    .venv/bin/python bench/end_to_end.py [--messages 10000] [--concurrency 32]
        [--receipt-delay 0.5] [--skip-postgres] [--timeout 600] [--peers node|python]
        [--workers N] [--nodes N] [--old-messages N]
    .venv/bin/python bench/end_to_end.py --rate 100 --seconds 30 [--connections 4]
        [--warmup 2] [--strace] [--receipt-delay 0.5] [--skip-postgres] [--peers node|python]
        [--old-messages N]
"""

import argparse
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus

import old_messages
import paced
from common import (
    KEY,
    PEERS,
    Processes,
    cpu_seconds,
    drop_postgres_database,
    host_cpu_times,
    http_get,
    migrate,
    postgres_database,
    rss_kib,
    start_gatewayd,
    start_kannel,
    start_receiver,
    start_simulator,
    wait_gatewayd_bound,
    wait_kannel_bound,
    wrk_latency_ms,
)

from gatewayd.core.statuses import Status

THREADS = 2
TEXT = "Benchmark message, about sixty characters long, plain text."
RECIPIENT = "32470000001"
KANNEL_DLR_MASK = 1 + 2 + 16  # delivered, undeliverable, rejected by the SMSC: finals only
SAMPLE_S = 0.1
IDLE_S = 2.0
STALL_S = 30.0
TARGETS = {"accepted req/s": 1.0, "end-to-end msg/s": 1.5}
# Where the CPU went, by part of the run: the gateway's processes, and the log name of the
# others (wrk's is read just before it is stopped).
CPU_PARTS = {"gateway": "gateway", "simulator": "simulator.log", "receiver": "receiver.log"}

# Each wrk thread sends its share of the messages, one id each ("<thread>-<n>"), then its
# connections wait (delay) until the run is stopped. A connection reserves its next message
# in delay(), so no more than the share is ever sent. Times are CLOCK_MONOTONIC, which is
# Python's time.monotonic() in every process.
LUA = """
local ffi = require("ffi")
ffi.cdef("typedef struct { long sec; long nsec; } bench_time;"
  .. "int clock_gettime(int clock, bench_time *time);")
local clock = ffi.new("bench_time")
local function now()
  ffi.C.clock_gettime(1, clock)
  return tonumber(clock.sec) + tonumber(clock.nsec) / 1e9
end

local METHOD, PATH, BODY_HEAD, BODY_TAIL, ACCEPTED = @METHOD@, @PATH@, @BODY_HEAD@, @BODY_TAIL@,
  @ACCEPTED@
wrk.headers["Content-Type"] = "application/json"

local threads = {}
function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local messages, count = tonumber(args[1]), tonumber(args[2])
  prefix = args[3] or ""
  quota = math.floor(messages / count) + ((index < messages % count) and 1 or 0)
  reserved, sent, answered, accepted, first, last = 0, 0, 0, 0, 0, 0
end

function delay()
  if reserved < quota then
    reserved = reserved + 1
    return 0
  end
  return 3600000
end

function request()
  if sent == reserved then  -- wrk's own check of the script, not sent: no id spent
    return wrk.format(METHOD, PATH)
  end
  sent = sent + 1
  if sent == 1 then first = now() end
  local id = prefix .. index .. "-" .. sent
  local body = BODY_HEAD and (BODY_HEAD .. id .. BODY_TAIL)
  return wrk.format(METHOD, PATH .. (body and "" or id), nil, body)
end

function response(status, headers, body)
  answered = answered + 1
  last = now()
  if status >= 200 and status < 300 and body:find(ACCEPTED) then accepted = accepted + 1 end
  if answered == quota then io.stderr:write("finished\\n") end
end

function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    io.write(string.format("thread %d %d %d %.6f %.6f\\n", t:get("sent"), t:get("answered"),
      t:get("accepted"), t:get("first"), t:get("last")))
  end
end
"""


@dataclass(frozen=True)
class Load:
    """What wrk saw: requests sent, answered and accepted, first request, last answer."""

    sent: int
    answered: int
    accepted: int
    first: float
    last: float
    p50_ms: float
    p99_ms: float
    errors: str
    wrk_cpu_s: float

    @property
    def rate(self) -> float:
        return self.accepted / (self.last - self.first) if self.last > self.first else 0.0


@dataclass(frozen=True)
class Callbacks:
    final: int
    non_final: int
    duplicates: int
    last: float | None


@dataclass(frozen=True)
class Result:
    name: str
    load: Load
    callbacks: Callbacks
    rss_before: int
    rss_peak: int
    rss_after: int
    host_busy_percent: float
    cpu_s: dict[str, float]
    """CPU seconds each part of the run used during the load and its callbacks."""

    @property
    def seconds(self) -> float:
        last = self.callbacks.last
        return last - self.load.first if last is not None else 0.0

    @property
    def rate(self) -> float:
        return self.callbacks.final / self.seconds if self.seconds > 0 else 0.0

    @property
    def missing(self) -> int:
        return self.load.accepted - self.callbacks.final

    def cpu_ms_per_message(self, part: str) -> float:
        return 1000 * self.cpu_s[part] / self.callbacks.final if self.callbacks.final else 0.0


class RssSampler:
    """Peak resident memory of some processes (summed), sampled in a thread."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def now(self) -> int:
        return sum(rss_kib(pid) for pid in self.pids)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            self._stop.wait(SAMPLE_S)


def lua_script(
    directory: Path, name: str, method: str, path: str, body: tuple[str, str] | None, accepted: str
) -> Path:
    """The load script: `path` (or `body`'s head and tail) is followed by each request's id;
    a 2xx answer counts as accepted when its body matches the Lua pattern `accepted`."""
    head, tail = body if body else (None, None)
    values = {"METHOD": method, "PATH": path, "BODY_HEAD": head, "BODY_TAIL": tail}
    values["ACCEPTED"] = accepted
    source = LUA
    for key, value in values.items():
        source = source.replace(f"@{key}@", "nil" if value is None else json.dumps(value))
    script = directory / f"{name}.lua"
    script.write_text(source)
    return script


def drive(processes: Processes, name: str, urls: list[str], script: Path, args) -> Load:
    """Run one wrk per URL, each sending its share of the messages (ids prefixed by its
    number), until every thread has had all its answers (or --timeout), then stop them."""
    shares = [len(range(n, args.messages, len(urls))) for n in range(len(urls))]
    runs = []
    for number, (url, share) in enumerate(zip(urls, shares, strict=True)):
        log = processes.directory / f"wrk-{name}-{number}.log"
        command = ["wrk", f"-t{THREADS}", f"-c{args.concurrency // len(urls)}"]
        command += [f"-d{args.timeout}s", "--timeout", "30s", "--latency", "-s", str(script)]
        command += [url, "--", str(share), str(THREADS), f"{number}n" if len(urls) > 1 else ""]
        runs.append((processes.start(command, log.name), log))
    deadline = time.monotonic() + args.timeout
    for wrk, log in runs:
        while log.read_text().count("finished\n") < THREADS and time.monotonic() < deadline:
            if wrk.poll() is not None:
                raise SystemExit(f"wrk exited with {wrk.returncode}: see {log}")
            time.sleep(0.05)
    loads = []
    for wrk, log in runs:
        wrk_cpu_s = cpu_seconds(wrk.pid)
        wrk.send_signal(signal.SIGINT)
        wrk.wait(timeout=30)
        processes.stop(wrk)
        loads.append(parse_wrk(log.read_text(), wrk_cpu_s))
    return combined(loads)


def combined(loads: list[Load]) -> Load:
    """Several wrk runs as one: counts and CPU summed, the widest span, the worst latency."""
    return Load(
        sent=sum(load.sent for load in loads),
        answered=sum(load.answered for load in loads),
        accepted=sum(load.accepted for load in loads),
        first=min(load.first for load in loads),
        last=max(load.last for load in loads),
        p50_ms=max(load.p50_ms for load in loads),
        p99_ms=max(load.p99_ms for load in loads),
        errors="; ".join(load.errors for load in loads if load.errors),
        wrk_cpu_s=sum(load.wrk_cpu_s for load in loads),
    )


def parse_wrk(output: str, wrk_cpu_s: float) -> Load:
    threads = [line.split()[1:] for line in output.splitlines() if line.startswith("thread ")]
    if len(threads) != THREADS:
        raise SystemExit(f"wrk's script reported {len(threads)} threads:\n{output}")
    errors = re.search(r"Socket errors: (.*)", output)
    return Load(
        sent=sum(int(t[0]) for t in threads),
        answered=sum(int(t[1]) for t in threads),
        accepted=sum(int(t[2]) for t in threads),
        first=min(float(t[3]) for t in threads),
        last=max(float(t[4]) for t in threads),
        p50_ms=wrk_latency_ms(output, 50),
        p99_ms=wrk_latency_ms(output, 99),
        errors=errors[1] if errors else "",
        wrk_cpu_s=wrk_cpu_s,
    )


def wait_callbacks(receiver: int, run: str, expected: int, timeout: float) -> Callbacks:
    """Poll the receiver until `expected` final callbacks arrived, none came for STALL_S, or
    `timeout` passed."""
    deadline = time.monotonic() + timeout
    progress, seen = time.monotonic(), -1
    while True:
        stats = json.loads(http_get(f"http://127.0.0.1:{receiver}/stats/{run}"))
        now = time.monotonic()
        if stats["final"] != seen:
            progress, seen = now, stats["final"]
        if seen >= expected or now - progress > STALL_S or now > deadline:
            return Callbacks(stats["final"], stats["non_final"], stats["duplicates"], stats["last"])
        time.sleep(SAMPLE_S)


def measure(
    processes: Processes,
    name: str,
    run: str,
    urls: list[str],
    script: Path,
    pids: list[int],
    receiver: int,
    args,
) -> Result:
    """One gateway under the load: `run` names its wrk log and its callbacks' path."""
    sampler = RssSampler(pids)
    before, host = sampler.now(), host_cpu_times()
    cpu_before = processes.cpu_seconds_by_log() | {"gateway": _cpu(pids)}
    with sampler:
        load = drive(processes, run, urls, script, args)
        callbacks = wait_callbacks(receiver, run, load.accepted, args.timeout)
    cpu_after = processes.cpu_seconds_by_log() | {"gateway": _cpu(pids)}
    busy, total = (after - start for after, start in zip(host_cpu_times(), host, strict=True))
    cpu = {part: cpu_after[log] - cpu_before[log] for part, log in CPU_PARTS.items()}
    cpu["wrk"] = load.wrk_cpu_s
    time.sleep(IDLE_S)
    return Result(
        name, load, callbacks, before, sampler.peak, sampler.now(), 100 * busy / total, cpu
    )


def _cpu(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def run_gatewayd(
    processes: Processes,
    database: str,
    smsc: int,
    receiver: int,
    args,
    nodes: int = 1,
    workers: int = 0,
) -> Result:
    """`nodes` gatewayd processes on `database` (each with its own binds and `workers` HTTP
    worker processes), the load shared between them; with --old-messages, the database holds
    that many older messages first."""
    store = database.split(":")[0]
    run = f"gatewayd-{store}-{nodes}-{workers}"
    name = (
        f"gatewayd {store}"
        + (f" x{nodes}" if nodes > 1 else "")
        + (f" {workers}w" if workers else "")
    )
    if args.old_messages:
        migrate(database)
        seconds = old_messages.fill(database, args.old_messages)
        print(f"{name}: {args.old_messages:,} older messages stored in {seconds:.0f} s")
    # Final statuses only, as Kannel's dlr-mask 19; no more than 32 callbacks in flight, as
    # Kannel's smsbox does not limit them per host either (gatewayd's default is 8).
    hook = f"http://127.0.0.1:{receiver}/hook/{run}"
    started = []
    try:
        for _ in range(nodes):
            started.append(
                start_gatewayd(
                    processes,
                    database,
                    smsc,
                    hook,
                    final_only=True,
                    max_per_host=32,
                    workers=workers,
                    commit_interval_s=args.commit_interval_s,
                )
            )
        for gatewayd in started:
            wait_gatewayd_bound(gatewayd)
        request = json.dumps({"apiKey": KEY, "to": RECIPIENT, "message": TEXT, "reference": ""})
        body = (request[:-2], request[-2:])  # the id goes between the reference's quotes
        script = lua_script(
            processes.directory, run, "POST", "/sms/v1/Message", body, '"MessageId":"'
        )
        urls = [f"http://127.0.0.1:{g.http_port}/sms/v1/Message" for g in started]
        pids = [g.process.pid for g in started]
        return measure(processes, name, run, urls, script, pids, receiver, args)
    finally:
        for gatewayd in started:
            processes.stop(gatewayd.process)


def run_kannel(processes: Processes, smsc: int, receiver: int, args) -> Result:
    kannel = start_kannel(processes, smsc)
    try:
        wait_kannel_bound(kannel)
        dlr_url = quote(f"http://127.0.0.1:{receiver}/hook/kannel?type=%d&id=", safe="")
        path = (
            f"/cgi-bin/sendsms?username=bench&password=bench&from=8686&to={RECIPIENT}"
            f"&text={quote_plus(TEXT)}&dlr-mask={KANNEL_DLR_MASK}&dlr-url={dlr_url}"
        )
        script = lua_script(processes.directory, "kannel", "GET", path, None, "^[03]: ")
        url = f"http://127.0.0.1:{kannel.sendsms_port}/cgi-bin/sendsms"
        pids = [kannel.bearerbox.pid, kannel.smsbox.pid]
        return measure(processes, "Kannel 1.4.5", "kannel", [url], script, pids, receiver, args)
    finally:
        processes.stop(kannel.smsbox)
        processes.stop(kannel.bearerbox)


def calibrate(processes: Processes, receiver: int, args) -> Result:
    """The same load posted straight to the receiver as final status webhooks."""
    body = ('{"StatusCode":"' + Status.DELIVERED.code + '","Reference":"', '"}')
    script = lua_script(
        processes.directory, "calibration", "POST", "/hook/calibration", body, "^ok$"
    )
    url = f"http://127.0.0.1:{receiver}/hook/calibration"
    return measure(processes, "receiver alone", "calibration", [url], script, [], receiver, args)


@dataclass(frozen=True)
class Row:
    label: str
    value: Callable[[Result], float]
    form: str
    compared: bool = True
    target: float | None = None


ROWS = [
    Row("accepted req/s", lambda r: r.load.rate, ",.0f", target=TARGETS["accepted req/s"]),
    Row("  p50 ms", lambda r: r.load.p50_ms, ".1f"),
    Row("  p99 ms", lambda r: r.load.p99_ms, ".1f"),
    Row("end-to-end msg/s", lambda r: r.rate, ",.0f", target=TARGETS["end-to-end msg/s"]),
    Row("  first request to last final s", lambda r: r.seconds, ".2f"),
    Row("  final callbacks", lambda r: r.callbacks.final, ",d", compared=False),
    Row("  missing (accepted - final)", lambda r: r.missing, ",d", compared=False),
    Row("  duplicate finals", lambda r: r.callbacks.duplicates, ",d", compared=False),
    Row("  non-final callbacks", lambda r: r.callbacks.non_final, ",d", compared=False),
    Row("RSS before MiB", lambda r: r.rss_before / 1024, ".1f"),
    Row("RSS peak MiB", lambda r: r.rss_peak / 1024, ".1f"),
    Row("RSS after MiB", lambda r: r.rss_after / 1024, ".1f"),
    Row("machine CPU busy %, all cores", lambda r: r.host_busy_percent, ".0f", compared=False),
    Row("CPU ms per message: gateway", lambda r: r.cpu_ms_per_message("gateway"), ".2f"),
    *(
        Row(f"  {part}", lambda r, part=part: r.cpu_ms_per_message(part), ".2f", compared=False)
        for part in ("simulator", "receiver", "wrk")
    ),
]


def print_table(results: list[Result], kannel: Result) -> None:
    gatewayds = [r for r in results if r is not kannel]
    width = max(20, 2 + max(len(r.name) for r in results))
    header = f"{'':34}" + "".join(f"{r.name:>{width}}" for r in results)
    header += "".join(
        f"{r.name.removeprefix('gatewayd ') + ' / Kannel':>{width}}" for r in gatewayds
    )
    print(header + f"{'target':>9}")
    for row in ROWS:
        line = f"{row.label:34}" + "".join(
            f"{format(row.value(r), row.form):>{width}}" for r in results
        )
        line += "".join(f"{ratio(row, r, kannel):>{width}}" for r in gatewayds)
        print(line + (f"{f'>= {row.target:.1f}x':>9}" if row.target is not None else ""))


def ratio(row: Row, result: Result, kannel: Result) -> str:
    base = row.value(kannel)
    if not row.compared or not base:
        return ""
    times = row.value(result) / base
    if row.target is None:
        return f"{times:.2f}x"
    return f"{times:.2f}x {'met' if times >= row.target else 'NOT met'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--receipt-delay", type=float, default=0.5, metavar="SECONDS")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--peers", choices=PEERS, default="node", help="SMSC and receiver")
    parser.add_argument(
        "--old-messages",
        type=int,
        default=0,
        metavar="N",
        help="older messages stored in each gatewayd database before its load",
    )
    parser.add_argument(
        "--nodes",
        type=int,
        default=1,
        help="on PostgreSQL, also run this many gatewayd nodes on one database",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="also run each single gatewayd with N HTTP worker processes (http.workers)",
    )
    parser.add_argument(
        "--timeout", type=int, default=600, help="seconds each load and its callbacks may take"
    )
    parser.add_argument(
        "--rate", type=float, metavar="R", help="paced mode: R requests/s (see bench/paced.py)"
    )
    parser.add_argument("--seconds", type=float, default=30, help="paced mode: measured time")
    parser.add_argument("--warmup", type=float, default=2, help="paced mode: seconds not counted")
    parser.add_argument(
        "--connections", type=int, default=4, help="paced mode: keep-alive connections"
    )
    parser.add_argument(
        "--strace", action="store_true", help="paced mode: gatewayd's system calls per message"
    )
    parser.add_argument(
        "--commit-interval-s",
        type=float,
        metavar="S",
        help="gatewayd's database.commit_interval_s (default: the configuration's)",
    )
    args = parser.parse_args()
    if args.rate is not None:
        main_paced(parser, args)
        return
    if args.messages < args.concurrency or args.concurrency < THREADS:
        parser.error(f"need --messages >= --concurrency >= {THREADS}")
    for tool in ("wrk", "bearerbox", "smsbox"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (apt-get install wrk kannel)")
    directory = Path(tempfile.mkdtemp(prefix="gatewayd-e2e-"))
    load_before = os.getloadavg()[0]
    with Processes(directory) as processes:
        receiver = start_receiver(processes, args.peers)
        smsc = start_simulator(processes, args.receipt_delay, args.peers)
        calibration = calibrate(processes, receiver, args)
        results = []
        for workers in sorted({0, args.workers}):
            sqlite = f"sqlite:///{directory}/gatewayd-{workers}w.db"
            results.append(run_gatewayd(processes, sqlite, smsc, receiver, args, 1, workers))
            database = None if args.skip_postgres else postgres_database()
            if database:
                try:
                    results.append(
                        run_gatewayd(processes, database, smsc, receiver, args, 1, workers)
                    )
                finally:
                    drop_postgres_database(database)
        if args.nodes > 1 and not args.skip_postgres:
            database = postgres_database()
            if database:
                try:
                    nodes = run_gatewayd(processes, database, smsc, receiver, args, args.nodes)
                    results.append(nodes)
                finally:
                    drop_postgres_database(database)
        kannel = run_kannel(processes, smsc, receiver, args)
    results.append(kannel)
    print(
        f"{args.messages:,} messages, 1 recipient a request, {args.concurrency} connections "
        f"(wrk -t{THREADS}), receipts after {args.receipt_delay:g} s, {args.peers} peers; "
        f"loopback, {os.cpu_count()} cores, load average {load_before:.2f} before the run"
    )
    print(
        f"load generator -> receiver alone: {calibration.load.rate:,.0f} req/s, "
        f"{calibration.callbacks.final:,} of {calibration.load.accepted:,} counted "
        f"(the ceiling of this measurement)"
    )
    print_table(results, kannel)
    print(f"logs: {directory}")
    failures = [
        problem for r in [calibration, *results] if (problem := shortfall(r, args.messages))
    ]
    if failures:
        raise SystemExit(
            "not every message was accepted and reported final:\n" + "\n".join(failures)
        )


def main_paced(parser: argparse.ArgumentParser, args) -> None:
    if args.rate <= 0 or args.seconds <= 0 or args.warmup < 0 or args.connections < 1:
        parser.error("need --rate > 0, --seconds > 0, --warmup >= 0 and --connections >= 1")
    if args.workers or args.nodes > 1:
        parser.error("--workers and --nodes are for the full-load mode only")
    tools = ("bearerbox", "smsbox", *(("strace",) if args.strace else ()))
    for tool in tools:
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (apt-get install kannel strace)")
    directory = Path(tempfile.mkdtemp(prefix="gatewayd-paced-"))
    load_before = os.getloadavg()[0]
    with Processes(directory) as processes:
        results = paced.run_all(processes, args)
    paced.print_table(results, load_before, args)
    print(f"logs: {directory}")
    failures = paced.shortfall(results)
    if failures:
        raise SystemExit(
            "not every request was accepted and reported final:\n" + "\n".join(failures)
        )


def shortfall(result: Result, messages: int) -> str:
    """What went missing in a run, or nothing."""
    load = result.load
    if load.accepted == messages and not result.missing:
        return ""
    errors = f", socket errors: {load.errors}" if load.errors else ""
    return (
        f"{result.name}: {load.sent:,} sent, {load.answered:,} answered, {load.accepted:,} "
        f"accepted of {messages:,}{errors}; {result.missing:,} final callbacks missing"
    )


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        raise SystemExit("interrupted; every process this run started is stopped") from None
