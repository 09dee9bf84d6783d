"""A lean HTTP/1.1 client for webhooks: keep-alive pools on trio sockets, the request written
by hand and the response parsed by httptools (llhttp, Node.js's parser, in C).

Measured against httpx on trio with bench/webhooks.py (DESIGN.md saw the same): httpx
slows down sharply with many requests in flight, while webhooks are many small requests to
few hosts. A pool of connections per (source address, scheme, host, port) keeps up. With
httptools instead of h11 a delivery costs the sender 0.09-0.11 ms of CPU instead of
0.15-0.22 (bench/webhooks.py, 4,000 requests, 1 to 32 in flight).
"""

import re
import ssl
from collections import defaultdict
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools
import trio

READ_SIZE = 16_384
# What may stand in a request target and a header value: visible ASCII (and, in a value,
# spaces and tabs). Anything else could split the request (CR, LF) or is not HTTP/1.1.
_TARGET = re.compile(r"[!-~]+")
_HEADER_VALUE = re.compile(r"[\t !-~]*")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


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


def request_bytes(
    method: str, target: Target, headers: list[tuple[str, str]], body: bytes
) -> bytes:
    """The request as it goes on the wire; HttpError for anything that is not HTTP/1.1."""
    if not _TOKEN.fullmatch(method) or not _TARGET.fullmatch(target.path):
        raise HttpError(f"not a valid request line: {method} {target.path!r}")
    lines = [f"{method} {target.path} HTTP/1.1", f"Host: {target.host_header}"]
    lines.append(f"Content-Length: {len(body)}")
    for name, value in headers:
        if not _TOKEN.fullmatch(name) or not _HEADER_VALUE.fullmatch(value):
            raise HttpError(f"not a valid header: {name!r}")
        lines.append(f"{name}: {value}")
    try:
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
    except UnicodeEncodeError:
        raise HttpError(f"not an ASCII host name: {target.host!r}") from None
    return head + body


class _Response:
    """httptools' callbacks for one response: its status, how much body came, whether done."""

    def __init__(self, max_body: int) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.max_body = max_body
        self.status: int | None = None
        self.received = 0
        self.complete = False
        self.keep_alive = False

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.received += len(body)

    def on_message_complete(self) -> None:
        if self.status is not None and self.status >= 200:
            self.complete = True
            self.keep_alive = self.parser.should_keep_alive()  # read while its flags hold
        else:  # an interim 1xx answer: the real one follows
            self.status = None

    def feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            raise HttpError(f"invalid response: {error}") from None


class _Connection:
    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream

    async def exchange(self, request: bytes, max_body: int) -> tuple[int, bool]:
        """(status, reusable) for one request; the answer's body is read up to `max_body`."""
        await self.stream.send_all(request)
        response = _Response(max_body)
        while not response.complete:
            chunk = await self.stream.receive_some(READ_SIZE)
            if not chunk:
                if response.status is None:
                    raise HttpError("connection closed before the response")
                return response.status, False  # a body that ends with the connection
            response.feed(chunk)
            if response.received > max_body and response.status is not None:
                return response.status, False
        assert response.status is not None
        return response.status, response.keep_alive


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
        request = request_bytes(method, target, header_list, body)
        while pool:
            connection = pool.pop()
            try:
                status, reusable = await connection.exchange(request, max_body)
            except (HttpError, trio.BrokenResourceError, OSError):
                await connection.stream.aclose()
                continue  # a stale keep-alive connection: try another, then a new one
            return await self._done(pool, connection, status, reusable)
        connection = await self._connect(target)
        try:
            status, reusable = await connection.exchange(request, max_body)
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
