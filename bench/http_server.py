"""Requests per second of gatewayd's HTTP server on a trivial JSON endpoint.

Starts the server in a subprocess on loopback and drives it with wrk (Debian package `wrk`);
the server's CPU time (user + system, /proc) during the load, per answered request, is
the figure that says what the server costs whatever else runs on the machine.
With --compare, also measures starlette under hypercorn on trio (the framework route that
fits a trio daemon) and under uvicorn on asyncio, when they are importable, so the choice of
server is backed by a measurement on the machine at hand.

    .venv/bin/python bench/http_server.py [--seconds 5] [--connections 32] [--compare]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import textwrap

from common import cpu_seconds, free_port, wait_port

GATEWAYD_SERVER = """
import trio
from gatewayd.protocols.http.messages import Response
from gatewayd.protocols.http.routing import Router
from gatewayd.protocols.http.server import HttpServer, ServerLimits

async def hello(request):
    return Response.json({"ResultCode": 0, "ResultDescription": "Success"})

router = Router()
router.add("/hello", ["GET"], hello)
trio.run(HttpServer("bench", ["127.0.0.1:{port}"], router, ServerLimits()).run)
"""

STARLETTE_SERVER = """
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def hello(request):
    return JSONResponse({"ResultCode": 0, "ResultDescription": "Success"})

app = Starlette(routes=[Route("/hello", hello)])
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="error", access_log=False)
"""


HYPERCORN_TRIO_SERVER = """
import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def hello(request):
    return JSONResponse({"ResultCode": 0, "ResultDescription": "Success"})

config = Config()
config.bind = ["127.0.0.1:{port}"]
config.accesslog = config.errorlog = None
trio.run(serve, Starlette(routes=[Route("/hello", hello)]), config)
"""

ALTERNATIVES = [
    ("hypercorn + starlette (trio)", ("hypercorn", "starlette"), HYPERCORN_TRIO_SERVER),
    ("uvicorn + starlette (asyncio)", ("uvicorn", "starlette"), STARLETTE_SERVER),
]


def importable(*modules: str) -> bool:
    try:
        for module in modules:
            __import__(module)
    except ImportError:
        return False
    return True


def measure(name: str, source: str, seconds: int, connections: int) -> dict[str, str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(source).replace("{port}", str(port))]
    )
    try:
        wait_port(port)
        cpu_before = cpu_seconds(server.pid)
        output = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                f"http://127.0.0.1:{port}/hello",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        cpu_used = cpu_seconds(server.pid) - cpu_before
    finally:
        server.terminate()
        server.wait(timeout=10)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)[1]
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)[1]
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)[1]
    requests = int(re.search(r"(\d+) requests in", output)[1])
    return {
        "server": name,
        "requests/s": f"{float(rate):,.0f}",
        "p50": p50,
        "p99": p99,
        "cpu ms each": f"{1000 * cpu_used / requests:.3f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--compare", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    load = os.getloadavg()[0]
    rows = [measure("gatewayd", GATEWAYD_SERVER, args.seconds, args.connections)]
    if args.compare:
        for name, modules, source in ALTERNATIVES:
            if importable(*modules):
                rows.append(measure(name, source, args.seconds, args.connections))
            else:
                print(f"{name}: not installed, skipped", file=sys.stderr)
    print(
        f"wrk -t2 -c{args.connections} -d{args.seconds}s, trivial JSON endpoint, loopback, "
        f"{os.cpu_count()} cores, load average {load:.2f} at the start"
    )
    ours = float(rows[0]["requests/s"].replace(",", ""))
    print(
        f"{'server':32} {'requests/s':>12} {'p50':>10} {'p99':>10} {'CPU ms each':>12}"
        f" {'gatewayd is':>12}"
    )
    for row in rows:
        ratio = ours / float(row["requests/s"].replace(",", ""))
        print(
            f"{row['server']:32} {row['requests/s']:>12} {row['p50']:>10} {row['p99']:>10}"
            f" {row['cpu ms each']:>12} {ratio:>11.2f}x"
        )


if __name__ == "__main__":
    main()
