"""A lean HTTP/1.1 client for webhooks: h11 on trio sockets, with keep-alive pools.

Measured against httpx on trio with bench/webhooks.py (DESIGN.md saw the same): httpx
slows down sharply with many requests in flight, while webhooks are many small requests to
few hosts. A pool of h11 connections per (source address, scheme, host, port) keeps up.
"""

import ssl
from collections import defaultdict
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11
import trio

READ_SIZE = 16_384


class HttpError(Exception):
    """The exchange failed before a complete response head arrived."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str) -> "Target":
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HttpError(f"not an http(s) URL: {url}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(parts.scheme, parts.hostname, port, path)

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


class _Connection:
    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT)

    async def exchange(
        self,
        method: str,
        target: Target,
        headers: list[tuple[str, str]],
        body: bytes,
        max_body: int,
    ) -> tuple[int, bool]:
        """(status, reusable) for one request; the answer's body is read up to `max_body`."""
        head = [("Host", target.host_header), ("Content-Length", str(len(body))), *headers]
        data = self.h11.send(h11.Request(method=method, target=target.path, headers=head))
        if body:
            data += self.h11.send(h11.Data(data=body))
        data += self.h11.send(h11.EndOfMessage())
        await self.stream.send_all(data)
        status = None
        received = 0
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                chunk = await self.stream.receive_some(READ_SIZE)
                self.h11.receive_data(chunk)
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                received += len(event.data)
                if received > max_body:
                    return _status(status), False
            elif isinstance(event, h11.EndOfMessage):
                reusable = self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE
                if reusable:
                    self.h11.start_next_cycle()
                return _status(status), reusable
            elif isinstance(event, h11.ConnectionClosed):
                raise HttpError("connection closed before the response")


def _status(status: int | None) -> int:
    if status is None:
        raise HttpError("no response")
    return status


class HttpClient:
    """Keep-alive pools per (source address, scheme, host, port)."""

    def __init__(
        self,
        source: str | None,
        connect_timeout_s: float,
        max_idle_per_host: int = 64,
        user_agent: str = "gatewayd-webhooks",
    ) -> None:
        self._source = source
        self._connect_timeout_s = connect_timeout_s
        self._max_idle = max_idle_per_host
        self._idle: dict[tuple[str, str, int], list[_Connection]] = defaultdict(list)
        self._user_agent = user_agent
        self._tls = ssl.create_default_context()

    async def request(
        self, method: str, url: str, headers: dict[str, str], body: bytes, max_body: int
    ) -> int:
        target = Target.parse(url)
        key = (target.scheme, target.host, target.port)
        pool = self._idle[key]
        header_list = [("User-Agent", self._user_agent), *headers.items()]
        while pool:
            connection = pool.pop()
            try:
                status, reusable = await connection.exchange(
                    method, target, header_list, body, max_body
                )
            except (HttpError, h11.ProtocolError, trio.BrokenResourceError, OSError):
                await connection.stream.aclose()
                continue  # a stale keep-alive connection: try another, then a new one
            return await self._done(pool, connection, status, reusable)
        connection = await self._connect(target)
        try:
            status, reusable = await connection.exchange(
                method, target, header_list, body, max_body
            )
        except BaseException:
            await trio.aclose_forcefully(connection.stream)
            raise
        return await self._done(pool, connection, status, reusable)

    async def _done(
        self, pool: list[_Connection], connection: _Connection, status: int, reusable: bool
    ) -> int:
        if reusable and len(pool) < self._max_idle:
            pool.append(connection)
        else:
            await trio.aclose_forcefully(connection.stream)
        return status

    async def _connect(self, target: Target) -> _Connection:
        with trio.fail_after(self._connect_timeout_s):
            family = 0
            if self._source:
                family = trio.socket.AF_INET6 if ":" in self._source else trio.socket.AF_INET
            addresses = await trio.socket.getaddrinfo(
                target.host, target.port, family, trio.socket.SOCK_STREAM
            )
            if not addresses:
                raise HttpError(f"cannot resolve {target.host}")
            family, kind, protocol, _, address = addresses[0]
            sock = trio.socket.socket(family, kind, protocol)
            try:
                if self._source:
                    await sock.bind((self._source, 0))
                sock.setsockopt(trio.socket.IPPROTO_TCP, trio.socket.TCP_NODELAY, 1)
                await sock.connect(address)
            except BaseException:
                sock.close()
                raise
            stream: trio.abc.Stream = trio.SocketStream(sock)
            if target.scheme == "https":
                stream = trio.SSLStream(stream, self._tls, server_hostname=target.host)
                await stream.do_handshake()
        return _Connection(stream)

    async def aclose(self) -> None:
        for pool in self._idle.values():
            for connection in pool:
                await trio.aclose_forcefully(connection.stream)
        self._idle.clear()
