"""Accepted messages per second: gatewayd's Message API beside Kannel's sendsms, same run.

Both gateways submit to the same SMSC simulator (`gatewayd simulate-smsc`, its own process)
and are driven in turn by wrk (Debian package) with 32 connections: one request carries 1
or 100 recipients. gatewayd is measured on SQLite and, when the local server answers, on
PostgreSQL. Kannel (Debian's bearerbox + smsbox 1.4.5) keeps its queue in its file store.
A request counts when it was answered 2xx (gatewayd answers only after its rows are
committed).

    .venv/bin/python bench/accept.py [--seconds 10] [--connections 32]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import free_port, wait_port

KEY = "bench-key-0123456789"
POSTGRES = os.environ.get("GATEWAYD_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
RECIPIENTS = [f"3247{n:07d}" for n in range(100)]


def wrk(url: str, script: Path | None, seconds: int, connections: int) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script is not None:
        command[1:1] = ["-s", str(script)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    requests = int(re.search(r"(\d+) requests in", output)[1])
    failed = int(non_2xx[1]) if non_2xx else 0
    seconds_run = float(re.search(r"requests in ([\d.]+)s", output)[1])
    return {
        "rate": (requests - failed) / seconds_run,
        "failed": failed,
        "p50": _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M)[1]),
        "p99": _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M)[1]),
    }


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    if match is None:
        raise SystemExit(f"cannot read a latency from wrk: {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def post_script(directory: Path, recipients: int) -> Path:
    body = json.dumps(
        {
            "apiKey": KEY,
            "to": ",".join(RECIPIENTS[:recipients]),
            "message": "Benchmark message, about sixty characters long, plain text.",
        }
    )
    script = directory / f"post{recipients}.lua"
    script.write_text(
        f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return script


def run_gatewayd(directory: Path, database: str, smsc_port: int, args) -> list[dict]:
    port = free_port()
    config = directory / "gatewayd.yaml"
    config.write_text(f"""
database: {{url: "{database}"}}
http: {{listen: ["127.0.0.1:{port}"]}}
admin: {{listen: ["127.0.0.1:{free_port()}"]}}
logging: {{level: WARNING}}
carriers:
  - {{name: sim, host: 127.0.0.1, port: {smsc_port}, system_id: gatewayd, window: 64, binds: 2}}
accounts:
  - name: bench
    applications: [{{name: bench, api_keys: ["{KEY}"]}}]
""")
    gatewayd = [sys.executable, "-m", "gatewayd"]
    subprocess.run([*gatewayd, "migrate", "--config", str(config)], check=True, capture_output=True)
    log = (directory / "gatewayd.log").open("a")
    daemon = subprocess.Popen([*gatewayd, "run", "--config", str(config)], stderr=log)
    rows = []
    try:
        wait_port(port)
        for recipients in (1, 100):
            result = wrk(
                f"http://127.0.0.1:{port}/sms/v1/Message",
                post_script(directory, recipients),
                args.seconds,
                args.connections,
            )
            rows.append(
                {
                    "system": "gatewayd",
                    "store": database.split(":")[0],
                    "recipients": recipients,
                    **result,
                }
            )
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
    return rows


def run_kannel(directory: Path, smsc_port: int, args) -> list[dict]:
    admin, box, sendsms = free_port(), free_port(), free_port()
    store = directory / "kannel-store"
    config = directory / "kannel.conf"
    config.write_text(f"""
group = core
admin-port = {admin}
admin-password = bench
smsbox-port = {box}
log-level = 4
log-file = "{directory}/bearerbox.log"
store-type = file
store-location = "{store}"
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
    bearerbox = subprocess.Popen(
        ["bearerbox", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    smsbox = None
    rows = []
    try:
        wait_port(box)
        smsbox = subprocess.Popen(
            ["smsbox", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_port(sendsms)
        for recipients in (1, 100):
            to = "+".join(RECIPIENTS[:recipients])
            url = (
                f"http://127.0.0.1:{sendsms}/cgi-bin/sendsms?username=bench&password=bench"
                f"&from=8686&to={to}&text=Benchmark+message+about+sixty+characters+long"
            )
            result = wrk(url, None, args.seconds, args.connections)
            rows.append(
                {"system": "Kannel 1.4.5", "store": "file", "recipients": recipients, **result}
            )
    finally:
        for process in (smsbox, bearerbox):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
    return rows


def postgres_database() -> str | None:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    for tool in ("wrk", "bearerbox", "smsbox"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (apt-get install wrk kannel)")
    directory = Path(tempfile.mkdtemp(prefix="gatewayd-bench-"))
    smsc_port = free_port()
    simulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gatewayd",
            "simulate-smsc",
            "--listen",
            f"127.0.0.1:{smsc_port}",
            "--receipt-delay",
            "0",
        ],
        stderr=subprocess.DEVNULL,
    )
    rows = []
    try:
        wait_port(smsc_port)
        rows += run_gatewayd(directory, f"sqlite:///{directory}/gatewayd.db", smsc_port, args)
        database = postgres_database()
        if database:
            rows += run_gatewayd(directory, database, smsc_port, args)
        rows += run_kannel(directory, smsc_port, args)
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
    print(
        f"wrk -t2 -c{args.connections} -d{args.seconds}s, loopback, "
        f"{os.cpu_count()} cores; messages/s = accepted requests/s x recipients"
    )
    print(
        f"{'system':14} {'store':10} {'to':>4} {'requests/s':>11} {'messages/s':>11} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>8} {'vs Kannel':>10}"
    )
    kannel = {r["recipients"]: r for r in rows if r["system"].startswith("Kannel")}
    for row in rows:
        base = kannel.get(row["recipients"])
        ratio = f"{row['rate'] / base['rate']:.2f}x" if base and base["rate"] else "-"
        print(
            f"{row['system']:14} {row['store']:10} {row['recipients']:>4} {row['rate']:>11,.0f} "
            f"{row['rate'] * row['recipients']:>11,.0f} {row['p50']:>7.1f} {row['p99']:>7.1f} "
            f"{row['failed']:>8} {ratio:>10}"
        )


if __name__ == "__main__":
    main()
