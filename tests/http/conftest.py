"""A real HttpServer on a loopback port with handlers the tests control."""

from collections.abc import AsyncIterator

import pytest
import trio

from gatewayd.protocols.http.messages import Request, Response
from gatewayd.protocols.http.routing import Router
from gatewayd.protocols.http.server import HttpServer, ServerLimits


class Probe:
    """Handlers whose behaviour a test steers: /echo, /boom, /slow (waits for `release`)."""

    def __init__(self) -> None:
        self.release = trio.Event()
        self.slow_started = trio.Event()
        self.seen: list[Request] = []

    def router(self) -> Router:
        router = Router()
        router.add("/sms/v1/Message", ["POST"], self.echo)
        router.add("/echo", ["GET", "POST"], self.echo)
        router.add("/boom", ["GET"], self.boom)
        router.add("/slow", ["GET"], self.slow)
        return router

    async def echo(self, request: Request) -> Response:
        self.seen.append(request)
        return Response.json(
            {"path": request.path, "body": request.body.decode(), "query": request.query}
        )

    async def boom(self, request: Request) -> Response:
        raise RuntimeError("handler bug")

    async def slow(self, request: Request) -> Response:
        self.slow_started.set()
        await self.release.wait()
        return Response.json({"slow": "done"})


@pytest.fixture
async def http_server(nursery) -> AsyncIterator[tuple[HttpServer, Probe, int]]:
    probe = Probe()
    limits = ServerLimits(
        max_body_bytes=1000, header_timeout_s=0.5, body_timeout_s=0.5, drain_timeout_s=5
    )
    server = HttpServer("test", ["127.0.0.1:0"], probe.router(), limits)
    addresses = await nursery.start(server.run)
    yield server, probe, addresses[0][1]
    server.stop()


async def exchange(port: int, raw: bytes, *, until_closed: bool = True) -> bytes:
    """Send raw bytes, return everything answered until the server closes (bounded)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(raw)
        received = b""
        with trio.fail_after(5):
            while True:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    return received
                received += chunk
                if not until_closed and b"\r\n\r\n" in received:
                    return received
