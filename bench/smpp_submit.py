"""submit_sm per second through gatewayd's carrier binds, against the SMSC simulator.

The simulator runs in its own process (`gatewayd simulate-smsc`, receipts off), so the two
sides do not share an event loop. For each setting, a bounded number of submits is sent with
enough concurrency to keep every window full.

    .venv/bin/python bench/smpp_submit.py [--submits 5000]
"""

import argparse
import subprocess
import sys
import time

import trio
from common import free_port, wait_port

from gatewayd.protocols.smpp.client import Carrier, CarrierSettings, Outcome

SETTINGS = [(1, 1), (1, 10), (1, 64), (2, 1), (2, 10), (2, 64)]
FIELDS = {
    "source_addr": "8686",
    "source_addr_ton": 3,
    "destination_addr": "32470000001",
    "dest_addr_ton": 1,
    "dest_addr_npi": 1,
    "registered_delivery": 0,
    "short_message": b"benchmark message of a typical length, about sixty characters",
}


async def no_deliveries(carrier, pdu) -> int:
    return 0


async def measure(port: int, binds: int, window: int, submits: int) -> tuple[float, int]:
    settings = CarrierSettings(
        name="bench",
        host="127.0.0.1",
        port=port,
        system_id="bench",
        binds=binds,
        window=window,
        queue_wait_s=60,
    )
    carrier = Carrier(settings, no_deliveries)
    failures = 0
    async with trio.open_nursery() as nursery:
        await nursery.start(carrier.run)
        with trio.fail_after(10):
            while sum(b.state == "trx" for b in carrier.binds) < binds:
                await carrier._state_changed.wait()
        sent = 0
        started = time.perf_counter()

        async def sender():
            nonlocal sent, failures
            while sent < submits:
                sent += 1
                if (await carrier.submit(FIELDS)).outcome is not Outcome.ACCEPTED:
                    failures += 1

        async with trio.open_nursery() as senders:
            for _ in range(binds * window):
                senders.start_soon(sender)
        elapsed = time.perf_counter() - started
        nursery.cancel_scope.cancel()
    return submits / elapsed, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submits", type=int, default=5000)
    args = parser.parse_args()
    port = free_port()
    simulator = subprocess.Popen(
        [sys.executable, "-m", "gatewayd", "simulate-smsc", "--listen", f"127.0.0.1:{port}"],
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        print(f"{args.submits} submit_sm per setting, simulator in its own process, loopback")
        print(f"{'binds':>5} {'window':>6} {'submits/s':>10} {'not accepted':>13}")
        for binds, window in SETTINGS:
            rate, failures = trio.run(measure, port, binds, window, args.submits)
            print(f"{binds:>5} {window:>6} {rate:>10,.0f} {failures:>13}")
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)


if __name__ == "__main__":
    main()
