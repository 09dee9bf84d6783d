"""What the benchmark scripts share: ports, the processes they start (and always stop), the
SMSC simulator, gatewayd and Kannel set up against it, PostgreSQL, wrk output and RSS."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-key-0123456789"
POSTGRES = os.environ.get("GATEWAYD_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
STOP_TIMEOUT_S = 15


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_port(port: int, timeout: float = 30, process: subprocess.Popen | None = None) -> None:
    """Wait until something listens on the port; fail early when `process` has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"{process.args[0]} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}")


class Processes:
    """Every process a benchmark starts; all are stopped on exit, errors and Ctrl-C included.

    SIGTERM sent to the benchmark itself is turned into KeyboardInterrupt for the same end.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._started: list[subprocess.Popen] = []
        self._logs: dict[int, str] = {}

    def __enter__(self) -> "Processes":
        signal.signal(signal.SIGTERM, _interrupt)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for process in reversed(self._started):
            self.stop(process)

    def start(self, command: list[str], log: str) -> subprocess.Popen:
        """Start `command` in the worktree, its gatewayd first on the path, output to `log`."""
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with (self.directory / log).open("ab") as output:
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
            )
        self._started.append(process)
        self._logs[process.pid] = log
        return process

    def cpu_seconds_by_log(self) -> dict[str, float]:
        """CPU time used so far by the running processes, summed by the name of their log."""
        used: dict[str, float] = {}
        for process in self._started:
            log = self._logs[process.pid]
            used[log] = used.get(log, 0.0) + cpu_seconds(process.pid)
        return used

    def stop(self, process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process in self._started:
            self._started.remove(process)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


PEERS = ("node", "python")
"""Benchmark peers: "node" is an SMSC on node-smpp and a sink on node:http (bench/peers/,
about 0.1 ms of CPU a message or less each, so never the bound), "python" is gatewayd's own
simulator and bench/receiver.py (0.6-1.1 ms a message for the simulator)."""
NODE_PEERS = ROOT / "bench" / "peers"


def node_peers_installed() -> Path:
    """bench/peers with its node_modules (installed from its package-lock.json when missing)."""
    if not (NODE_PEERS / "node_modules" / "smpp").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--silent"],
            cwd=NODE_PEERS,
            check=True,
            timeout=300,
        )
    return NODE_PEERS


def start_simulator(processes: Processes, receipt_delay: float, peers: str = "node") -> int:
    """The SMSC every gateway of a run is bound to; its port."""
    port = free_port()
    if peers == "node":
        command = [
            "node",
            str(node_peers_installed() / "smsc.js"),
            "--port",
            str(port),
            "--receipt-delay",
            str(receipt_delay),
        ]
    else:
        command = [
            sys.executable,
            "-m",
            "gatewayd",
            "simulate-smsc",
            "--listen",
            f"127.0.0.1:{port}",
            "--receipt-delay",
            str(receipt_delay),
        ]
    simulator = processes.start(command, "simulator.log")
    wait_port(port, process=simulator)
    return port


def start_receiver(processes: Processes, peers: str = "node") -> int:
    """The status-callback receiver in its own process; its port."""
    port = free_port()
    if peers == "node":
        command = ["node", str(node_peers_installed() / "sink.js"), "--port", str(port)]
    else:
        command = [sys.executable, str(ROOT / "bench" / "receiver.py"), "--port", str(port)]
    receiver = processes.start(command, "receiver.log")
    wait_port(port, process=receiver)
    return port


@dataclass(frozen=True)
class Gatewayd:
    process: subprocess.Popen
    http_port: int
    admin_port: int


def start_gatewayd(
    processes: Processes,
    database: str,
    smsc_port: int,
    status_url: str | None = None,
    final_only: bool = False,
    max_per_host: int = 8,
    extra_config: str = "",
    workers: int = 0,
    more_applications: tuple[dict, ...] = (),
    commit_interval_s: float | None = None,
) -> Gatewayd:
    """gatewayd on `database`, one carrier (2 binds, window 64) on the simulator, one
    application with the key KEY and, given `status_url`, a JSON status webhook (for final
    statuses only with `final_only`; at most `max_per_host` requests to it at once);
    `extra_config` is added to the configuration file (top-level sections); `workers` HTTP
    worker processes serve the API (0: the daemon itself); `more_applications` go beside
    it in the same account; `commit_interval_s` overrides the database's default."""
    http_port, admin_port = free_port(), free_port()
    application: dict = {"name": "bench", "api_keys": [KEY]}
    if status_url:
        application["webhooks"] = {
            "status": {"url": status_url},
            "final_statuses_only": final_only,
        }
    storage: dict = {"url": database}
    if commit_interval_s is not None:
        storage["commit_interval_s"] = commit_interval_s
    config = processes.directory / f"gatewayd-{http_port}.yaml"
    config.write_text(f"""
database: {json.dumps(storage)}
http: {{listen: ["127.0.0.1:{http_port}"], workers: {workers}}}
admin: {{listen: ["127.0.0.1:{admin_port}"]}}
logging: {{level: WARNING}}
webhooks: {{max_per_host: {max_per_host}}}
carriers:
  - {{name: sim, host: 127.0.0.1, port: {smsc_port}, system_id: gatewayd, window: 64, binds: 2}}
accounts:
  - name: bench
    applications: {json.dumps([application, *more_applications])}
{extra_config}""")
    gatewayd = [sys.executable, "-m", "gatewayd"]
    _migrate(config)
    daemon = processes.start([*gatewayd, "run", "--config", str(config)], "gatewayd.log")
    wait_port(http_port, process=daemon)
    return Gatewayd(daemon, http_port, admin_port)


def migrate(database: str) -> None:
    """Bring `database` to this checkout's schema (`gatewayd migrate`)."""
    directory = Path(tempfile.mkdtemp(prefix="gatewayd-migrate-"))
    config = directory / "gatewayd.yaml"
    config.write_text(f'database: {{url: "{database}"}}\n')
    try:
        _migrate(config)
    finally:
        shutil.rmtree(directory)


def _migrate(config: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "gatewayd", "migrate", "--config", str(config)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
        capture_output=True,
        timeout=120,
    )


@dataclass(frozen=True)
class Kannel:
    bearerbox: subprocess.Popen
    smsbox: subprocess.Popen
    sendsms_port: int
    admin_port: int


def start_kannel(processes: Processes, smsc_port: int) -> Kannel:
    """Debian's bearerbox + smsbox 1.4.5, file store, one SMPP transceiver on the simulator
    (window 64), sendsms for user bench/bench; DLRs kept in memory. Console output is
    errors only (-v 4): at its default, debug, Kannel spends much of its time logging."""
    directory = processes.directory
    admin, box, sendsms = free_port(), free_port(), free_port()
    config = directory / "kannel.conf"
    config.write_text(f"""
group = core
admin-port = {admin}
admin-password = bench
smsbox-port = {box}
log-level = 4
log-file = "{directory}/bearerbox.log"
store-type = file
store-location = "{directory}/kannel-store"
dlr-storage = internal

group = smsc
smsc = smpp
smsc-id = sim
host = 127.0.0.1
port = {smsc_port}
transceiver-mode = true
smsc-username = kannel
smsc-password = kannel
system-type = "VMA"
max-pending-submits = 64

group = smsbox
bearerbox-host = 127.0.0.1
sendsms-port = {sendsms}
log-level = 4
log-file = "{directory}/smsbox.log"

group = sendsms-user
username = bench
password = bench
max-messages = 10
""")
    bearerbox = processes.start(["bearerbox", "-v", "4", str(config)], "bearerbox.out")
    wait_port(box, process=bearerbox)
    smsbox = processes.start(["smsbox", "-v", "4", str(config)], "smsbox.out")
    wait_port(sendsms, process=smsbox)
    return Kannel(bearerbox, smsbox, sendsms, admin)


def http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Until `check()` holds; a check that cannot connect yet (OSError) counts as not yet."""
    deadline = time.monotonic() + timeout
    while not _holds(check):
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


def _holds(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except OSError:
        return False


def wait_gatewayd_bound(gatewayd: Gatewayd, binds: int = 2) -> None:
    """Until every bind to the simulator is up (gatewayd_carrier_binds on /metrics)."""
    bound = f'gatewayd_carrier_binds{{carrier="sim",state="trx"}} {binds:.1f}'
    metrics = f"http://127.0.0.1:{gatewayd.admin_port}/metrics"
    wait_until(lambda: bound in http_get(metrics), "gatewayd's binds")


def wait_kannel_bound(kannel: Kannel) -> None:
    """Until bearerbox's SMPP connection to the simulator is online (its status page)."""
    status = f"http://127.0.0.1:{kannel.admin_port}/status.txt?password=bench"
    wait_until(
        lambda: re.search(r"^\s+sim\[sim\].*\(online", http_get(status), re.M) is not None,
        "Kannel's bind",
    )


def postgres_database() -> str | None:
    """A fresh database on the local server, or None (said on stderr) when none answers."""
    try:
        import psycopg

        name = f"gatewayd_bench_{os.getpid()}"
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True, connect_timeout=3) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}"')
            db.execute(f'CREATE DATABASE "{name}"')
        return f"{POSTGRES}/{name}"
    except Exception as error:  # no server: the PostgreSQL rows are skipped, and said so
        print(f"PostgreSQL not measured: {error}", file=sys.stderr)
        return None


def drop_postgres_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True, connect_timeout=3) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wrk_latency_ms(output: str, percentile: int) -> float:
    """A percentile from wrk's --latency distribution, in milliseconds."""
    found = re.search(rf"^\s+{percentile}%\s+(\S+)", output, re.M)
    match = re.match(r"([\d.]+)(us|ms|s|m)$", found[1] if found else "")
    if match is None:
        raise SystemExit(f"cannot read the {percentile}% latency from wrk:\n{output}")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants still running (gatewayd's HTTP workers, say), whichever of
    their threads started them."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                queue += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def rss_kib(pid: int) -> int:
    """Resident memory of a process and its descendants (VmRSS), 0 once it has exited."""
    total = 0
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        total += int(found[1]) if found else 0
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process and its running descendants have used so far
    (/proc/<pid>/stat)."""
    total = 0.0
    for member in process_tree(pid):
        try:
            stat = Path(f"/proc/{member}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def host_cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine so far (/proc/stat)."""
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)
