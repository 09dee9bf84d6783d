"""Accepted messages per second: gatewayd's Message API beside Kannel's sendsms, same run.

Both gateways submit to the same SMSC simulator (`gatewayd simulate-smsc`, its own process)
and are driven in turn by wrk (Debian package) with 32 connections: one request carries 1
or 100 recipients. gatewayd is measured on SQLite and, when the local server answers, on
PostgreSQL. Kannel (Debian's bearerbox + smsbox 1.4.5) keeps its queue in its file store.
A request counts when it was answered 2xx (gatewayd answers only after its rows are
committed). CPU ms per request is the gateway's CPU time (user + system, /proc: gatewayd's
process; bearerbox + smsbox) during the load, per request answered.

    .venv/bin/python bench/accept.py [--seconds 10] [--connections 32]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from common import (
    KEY,
    Processes,
    cpu_seconds,
    drop_postgres_database,
    postgres_database,
    start_gatewayd,
    start_kannel,
    start_simulator,
    wrk_latency_ms,
)

RECIPIENTS = [f"3247{n:07d}" for n in range(100)]


def wrk(
    url: str, script: Path | None, seconds: int, connections: int, pids: list[int]
) -> dict[str, float]:
    """wrk's figures, with the CPU time the processes `pids` used per answered request."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script is not None:
        command[1:1] = ["-s", str(script)]
    cpu_before = sum(cpu_seconds(pid) for pid in pids)
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    cpu_used = sum(cpu_seconds(pid) for pid in pids) - cpu_before
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    requests = int(re.search(r"(\d+) requests in", output)[1])
    failed = int(non_2xx[1]) if non_2xx else 0
    seconds_run = float(re.search(r"requests in ([\d.]+)s", output)[1])
    return {
        "rate": (requests - failed) / seconds_run,
        "failed": failed,
        "p50": wrk_latency_ms(output, 50),
        "p99": wrk_latency_ms(output, 99),
        "cpu_ms": 1000 * cpu_used / max(requests, 1),
    }


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


def run_gatewayd(processes: Processes, database: str, smsc_port: int, args) -> list[dict]:
    gatewayd = start_gatewayd(
        processes, database, smsc_port, commit_interval_s=args.commit_interval_s
    )
    rows = []
    try:
        for recipients in (1, 100):
            result = wrk(
                f"http://127.0.0.1:{gatewayd.http_port}/sms/v1/Message",
                post_script(processes.directory, recipients),
                args.seconds,
                args.connections,
                [gatewayd.process.pid],
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
        processes.stop(gatewayd.process)
    return rows


def run_kannel(processes: Processes, smsc_port: int, args) -> list[dict]:
    kannel = start_kannel(processes, smsc_port)
    rows = []
    try:
        for recipients in (1, 100):
            to = "+".join(RECIPIENTS[:recipients])
            url = (
                f"http://127.0.0.1:{kannel.sendsms_port}/cgi-bin/sendsms?username=bench"
                f"&password=bench&from=8686&to={to}"
                "&text=Benchmark+message+about+sixty+characters+long"
            )
            pids = [kannel.bearerbox.pid, kannel.smsbox.pid]
            result = wrk(url, None, args.seconds, args.connections, pids)
            rows.append(
                {"system": "Kannel 1.4.5", "store": "file", "recipients": recipients, **result}
            )
    finally:
        processes.stop(kannel.smsbox)
        processes.stop(kannel.bearerbox)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32, help="at least 2 (wrk's threads)")
    parser.add_argument(
        "--commit-interval-s",
        type=float,
        metavar="S",
        help="gatewayd's database.commit_interval_s (default: the configuration's)",
    )
    args = parser.parse_args()
    for tool in ("wrk", "bearerbox", "smsbox"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (apt-get install wrk kannel)")
    load = os.getloadavg()[0]
    directory = Path(tempfile.mkdtemp(prefix="gatewayd-bench-"))
    rows = []
    with Processes(directory) as processes:
        smsc_port = start_simulator(processes, receipt_delay=0)
        rows += run_gatewayd(processes, f"sqlite:///{directory}/gatewayd.db", smsc_port, args)
        database = postgres_database()
        if database:
            try:
                rows += run_gatewayd(processes, database, smsc_port, args)
            finally:
                drop_postgres_database(database)
        rows += run_kannel(processes, smsc_port, args)
    print(
        f"wrk -t2 -c{args.connections} -d{args.seconds}s, loopback, {os.cpu_count()} cores, "
        f"load average {load:.2f} at the start; messages/s = accepted requests/s x recipients"
    )
    print(
        f"{'system':14} {'store':10} {'to':>4} {'requests/s':>11} {'messages/s':>11} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>8} {'CPU ms/req':>11} {'vs Kannel':>10}"
    )
    kannel = {r["recipients"]: r for r in rows if r["system"].startswith("Kannel")}
    for row in rows:
        base = kannel.get(row["recipients"])
        ratio = f"{row['rate'] / base['rate']:.2f}x" if base and base["rate"] else "-"
        print(
            f"{row['system']:14} {row['store']:10} {row['recipients']:>4} {row['rate']:>11,.0f} "
            f"{row['rate'] * row['recipients']:>11,.0f} {row['p50']:>7.1f} {row['p99']:>7.1f} "
            f"{row['failed']:>8} {row['cpu_ms']:>11.3f} {ratio:>10}"
        )


if __name__ == "__main__":
    main()
