"""A fast HTTP receiver for status callbacks, run in its own process by the benchmarks.

It counts callbacks per run (the path's last segment) and keeps, for every message id, the
time.monotonic() at which its final status arrived; CLOCK_MONOTONIC is the same clock in
every process of the machine, so the times compare with the load generator's.

    POST /hook/RUN                   gatewayd's JSON status webhook: Reference, StatusCode
    GET  /hook/RUN?id=ID&type=T      Kannel's dlr-url: final when T is 1, 2 or 16
    GET  /stats/RUN                  JSON: final, non_final, duplicates, first, last
    GET  /finals/RUN?prefix=P        JSON: final, first, last, of the ids that start with P

asyncio with its own minimal HTTP/1.1 parsing (keep-alive, Content-Length bodies): a
callback costs a few tens of microseconds.

    .venv/bin/python bench/receiver.py --port 9000
"""

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from gatewayd.core.statuses import Status

KANNEL_FINAL_TYPES = {"1", "2", "16"}  # delivered, undeliverable, rejected by the SMSC
OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


@dataclass
class Run:
    finals: dict[str, float] = field(default_factory=dict)
    non_final: int = 0
    duplicates: int = 0
    first: float | None = None

    def record(self, message_id: str, final: bool, now: float) -> None:
        if self.first is None:
            self.first = now
        if not final:
            self.non_final += 1
        elif message_id in self.finals:
            self.duplicates += 1
        else:
            self.finals[message_id] = now

    def summary(self) -> dict[str, float | int | None]:
        return {
            "final": len(self.finals),
            "non_final": self.non_final,
            "duplicates": self.duplicates,
            "first": self.first,
            "last": max(self.finals.values(), default=None),
        }

    def finals_with(self, prefix: str) -> dict[str, float | int | None]:
        times = [at for message_id, at in self.finals.items() if message_id.startswith(prefix)]
        return {
            "final": len(times),
            "first": min(times, default=None),
            "last": max(times, default=None),
        }


RUNS: dict[str, Run] = {}


def callback(target: str, body: bytes) -> tuple[str, bool]:
    """The message id and whether the status is final, from either gateway's callback."""
    if body:
        record = json.loads(body)
        final = Status(int(record["StatusCode"])).final
        return str(record.get("Reference") or record.get("MessageId")), final
    query = dict(parse_qsl(urlsplit(target).query))
    return query["id"], query["type"] in KANNEL_FINAL_TYPES


def answer(target: str, body: bytes) -> bytes:
    path = urlsplit(target).path
    kind, _, run = path.strip("/").partition("/")
    if kind == "hook":
        message_id, final = callback(target, body)
        RUNS.setdefault(run, Run()).record(message_id, final, time.monotonic())
        return OK
    if kind in ("stats", "finals"):
        found = RUNS.get(run, Run())
        prefix = dict(parse_qsl(urlsplit(target).query)).get("prefix", "")
        payload = json.dumps(
            found.summary() if kind == "stats" else found.finals_with(prefix)
        ).encode()
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload)
        )
    return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


class Connection(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            lines = head.split("\r\n")
            headers = dict(line.lower().split(":", 1) for line in lines[1:] if ":" in line)
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            self.transport.write(answer(lines[0].split(" ")[1], body))
            if headers.get("connection", "").strip() == "close":
                self.transport.close()
                return


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(
        Connection, "127.0.0.1", port, backlog=1024
    )
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
