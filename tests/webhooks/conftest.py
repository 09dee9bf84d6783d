"""A real HTTP server receiving webhooks on loopback, whose answers the test steers."""

import pytest
import trio

from gatewayd.protocols.http.messages import Request, Response
from gatewayd.protocols.http.server import HttpServer, ServerLimits


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.status = 200
        self.hang = False
        self.redirect = False
        self.huge = False
        self.changed = trio.Event()
        self.port = 0

    async def handle(self, request: Request) -> Response:
        self.requests.append(request)
        self.changed.set()
        self.changed = trio.Event()
        if self.hang:
            await trio.sleep_forever()
        if self.redirect:
            return Response(302, b"", [("Location", f"http://127.0.0.1:{self.port}/elsewhere")])
        if self.huge:
            return Response(200, b"x" * 5_000_000)
        return Response(self.status, b"ok")

    async def wait_for(self, count: int, timeout_s: float = 10) -> None:
        with trio.fail_after(timeout_s):
            while len(self.requests) < count:
                await self.changed.wait()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@pytest.fixture
async def receiver(nursery):
    receiver = Receiver()
    server = HttpServer("receiver", ["127.0.0.1:0"], receiver.handle, ServerLimits())
    addresses = await nursery.start(server.run)
    receiver.port = addresses[0][1]
    yield receiver
    server.stop()
