"""A small, fast HTTP/1.1 server: httptools (llhttp, Node.js's parser, in C) driven by trio.

Each request head is read here first and made strict (request_head.py), then parsed by a
parser of its own, which is fed exactly the request's bytes: the head, then its body (as
many bytes as its Content-Length says, or a chunked body up to its end, which llhttp finds).
What a client pipelines after a request stays here for the next one, so every head goes
through request_head.py; only after a chunked body does llhttp read on into what follows,
so a request pipelined there is not served: the connection closes after the chunked one's
answer (one sent after that answer is served as usual). This module adds sockets, limits
(header and body size, header/body/idle timeouts, connection count), the answer's bytes
and a graceful stop: `stop()` closes the listeners, lets requests in flight finish within
`drain_timeout_s`, and answers them with `Connection: close`.

Measured with bench/http_server.py against the h11 server it replaced: see bench/README.md.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import unquote

import httptools
import trio

from gatewayd.core.result_codes import Result
from gatewayd.protocols.http.messages import Handler, Request, Response
from gatewayd.protocols.http.request_head import (
    AmbiguousHead,
    drop_leading_empty_lines,
    normalize_head,
    split_head,
)
from gatewayd.protocols.listeners import open_listeners

log = logging.getLogger(__name__)
READ_SIZE = 65536
SERVER_HEADER = "Server: gatewayd\r\n"
_REASONS = {status.value: status.phrase for status in HTTPStatus}
# The bare line: the PHP client takes the answer's head to end at the first blank line and
# skips it only if what precedes is exactly "HTTP/1.1 100 Continue".
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
VERSIONS = ("1.0", "1.1")
INVALID_VERSION = "Invalid HTTP version"  # llhttp's words for a version it does not know


@dataclass(frozen=True)
class ServerLimits:
    max_header_bytes: int = 16_384
    max_body_bytes: int = 1_048_576
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    idle_timeout_s: float = 60.0
    max_connections: int = 1000
    drain_timeout_s: float = 5.0


class NoAnswer(Exception):
    """Raised by a handler whose outcome cannot be told (stored or not): the connection is
    closed without an answer, as if the process had gone, rather than answered either way."""


class _Reject(Exception):
    """Answer with this response and close the connection."""

    def __init__(self, response: Response) -> None:
        self.response = response


class HttpServer:
    def __init__(
        self,
        name: str,
        listen: list[str] | list[trio.SocketListener],
        handler: Handler,
        limits: ServerLimits,
        on_response: Callable[[str, int, float], None] | None = None,
    ) -> None:
        """`listen`: addresses to listen on, or listeners already open (a worker process
        serves those its supervisor opened). `on_response(listener, status, seconds)` is told
        of every answer (for metrics)."""
        self.on_response = on_response
        self.name = name
        self._listen = listen
        self._handler = handler
        self._limits = limits
        self._stopping = trio.Event()
        self._connection_slots = trio.Semaphore(limits.max_connections)
        self._busy = 0
        self._idle_changed = trio.Event()
        self.addresses: list[tuple[str, int]] = []

    def stop(self) -> None:
        self._stopping.set()

    async def run(
        self, task_status: trio.TaskStatus[list[tuple[str, int]]] = trio.TASK_STATUS_IGNORED
    ):
        listeners = [item for item in self._listen if isinstance(item, trio.SocketListener)]
        addresses = [item for item in self._listen if isinstance(item, str)]
        listeners += await open_listeners(self.name, addresses)
        self.addresses = [listener.socket.getsockname()[:2] for listener in listeners]
        async with trio.open_nursery() as connections:
            async with trio.open_nursery() as accepting:
                for listener in listeners:
                    accepting.start_soon(self._accept, listener, connections)
                task_status.started(self.addresses)
                await self._stopping.wait()
                accepting.cancel_scope.cancel()
            for listener in listeners:
                await listener.aclose()
            with trio.move_on_after(self._limits.drain_timeout_s):
                while self._busy:
                    await self._idle_changed.wait()
            connections.cancel_scope.cancel()

    async def _accept(self, listener: trio.SocketListener, nursery: trio.Nursery) -> None:
        while True:
            await self._connection_slots.acquire()
            try:
                stream = await listener.accept()
            except OSError as error:
                self._connection_slots.release()
                log.warning("%s: accept failed: %s", self.name, error)
                await trio.sleep(0.01)
                continue
            nursery.start_soon(self._connection, stream)

    async def _connection(self, stream: trio.SocketStream) -> None:
        try:
            async with stream:
                peer = stream.socket.getpeername()[0]
                await _Connection(self, stream, peer).serve()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, NoAnswer):
            pass
        finally:
            self._connection_slots.release()

    def _mark_busy(self, busy: bool) -> None:
        self._busy += 1 if busy else -1
        self._idle_changed.set()
        self._idle_changed = trio.Event()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()


class _Stop(Exception):
    """Raised in a parser callback to stop llhttp; the reason is in _Parsed's flags."""


class _Parsed:
    """httptools' callbacks for one request: its target, headers and body as they arrive."""

    def __init__(self, max_body: int) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.max_body = max_body
        self.target = b""
        self.headers: dict[str, str] = {}
        self.version = ""
        self.body: list[bytes] = []
        self.size = 0
        self.too_large = False
        self.complete = False
        self.keep_alive = False
        self.followed = False  # bytes came after a chunked body: the connection's last request

    def on_message_begin(self) -> None:
        if self.complete:
            self.followed = True
            raise _Stop

    def on_url(self, url: bytes) -> None:
        self.target += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text

    def on_headers_complete(self) -> None:
        self.version = self.parser.get_http_version()

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > self.max_body:
            self.too_large = True
            raise _Stop
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()  # read while its flags hold

    def feed(self, data: bytes) -> None:
        """Parse `data`; what llhttp refuses raises _Reject (400, or 505 for the version)."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            detail = "CONNECT is not served"
            raise _Reject(Response.error(400, Result.MALFORMED_REQUEST, detail)) from None
        except httptools.HttpParserError as error:
            if self.complete:  # about what followed a chunked body: this request stands
                self.followed = True
                return
            if self.too_large:
                raise _Reject(_too_large(self.max_body)) from None
            if str(error) == INVALID_VERSION:
                raise _Reject(_version_refused()) from None
            raise _Reject(Response.error(400, Result.MALFORMED_REQUEST, str(error))) from None


def _too_large(max_body: int) -> Response:
    """RingRing's status for it (400, which every client reads), not 413."""
    result = Result.BODY_TOO_LARGE
    return Response.error(result.http_status, result, f"at most {max_body} bytes")


def _version_refused() -> Response:
    return Response.error(505, Result.MALFORMED_REQUEST, "HTTP/1.1 only")


class _Connection:
    def __init__(self, server: HttpServer, stream: trio.SocketStream, peer: str) -> None:
        self.server = server
        self.limits = server._limits
        self.stream = stream
        self.peer = peer
        self._unread = b""

    async def serve(self) -> None:
        timeout = self.limits.header_timeout_s
        while True:
            try:
                head = None
                with trio.move_on_after(timeout):
                    head = await self._receive_head()
                if head is None:
                    return
                keep_alive = await self._answer(head)
            except _Reject as reject:
                await self._send(reject.response, keep_alive=False)
                return
            if not keep_alive or self.server.stopping:
                return
            timeout = self.limits.idle_timeout_s

    async def _answer(self, head: bytes) -> bool:
        """Read the request whose head is `head`, answer it; whether the connection goes on."""
        self.server._mark_busy(True)
        try:
            started = time.perf_counter()
            parsed = await self._read_request(head)
            request = self._request(parsed)
            response = await self._handle(request)
            keep_alive = parsed.keep_alive and parsed.version == "1.1" and not parsed.followed
            await self._send(response, keep_alive, head_only=request.method == "HEAD")
            if self.server.on_response is not None:
                elapsed = time.perf_counter() - started
                self.server.on_response(self.server.name, response.status, elapsed)
            return keep_alive
        finally:
            self.server._mark_busy(False)

    async def _receive_head(self) -> bytes | None:
        """The next request head, made strict; None if the client closed before one came."""
        buffer = self._unread
        self._unread = b""
        while True:
            buffer = drop_leading_empty_lines(buffer)
            parts = split_head(buffer)
            size = len(parts[0]) if parts else len(buffer)
            if size > self.limits.max_header_bytes:
                detail = f"at most {self.limits.max_header_bytes} bytes of request head"
                raise _Reject(Response.error(431, Result.MALFORMED_REQUEST, detail))
            if parts is not None:
                break
            data = await self.stream.receive_some(READ_SIZE)
            if not data:
                return None
            buffer += data
        head, self._unread = parts
        try:
            return normalize_head(head)
        except AmbiguousHead as error:
            detail = f"ambiguous request framing: {error}"
            raise _Reject(Response.error(400, Result.MALFORMED_REQUEST, detail)) from None

    async def _read_request(self, head: bytes) -> _Parsed:
        parsed = _Parsed(self.limits.max_body_bytes)
        parsed.feed(head)
        if parsed.version not in VERSIONS:
            raise _Reject(_version_refused())
        coding = parsed.headers.get("transfer-encoding")
        if coding is not None and coding.strip().lower() != "chunked":
            detail = "only Transfer-Encoding: chunked is served"
            raise _Reject(Response.error(400, Result.MALFORMED_REQUEST, detail))
        length = parsed.headers.get("content-length")
        if length is not None and int(length) > self.limits.max_body_bytes:
            raise _Reject(_too_large(self.limits.max_body_bytes))
        if not parsed.complete:
            with trio.move_on_after(self.limits.body_timeout_s):
                await self._read_body(parsed, None if length is None else int(length))
            if not parsed.complete:
                detail = "body not received in time"
                raise _Reject(Response.error(408, Result.MALFORMED_REQUEST, detail))
        return parsed

    async def _read_body(self, parsed: _Parsed, remaining: int | None) -> None:
        """Feed `parsed` its body: `remaining` bytes, or (None) a chunked body to its end."""
        expects = parsed.headers.get("expect", "").lower() == "100-continue"
        if expects and parsed.version == "1.1" and not self._unread:
            await self._write(CONTINUE)
        while not parsed.complete:
            if remaining == 0:
                detail = "the body did not end where its Content-Length says"
                raise _Reject(Response.error(400, Result.MALFORMED_REQUEST, detail))
            data = self._unread or await self.stream.receive_some(READ_SIZE)
            self._unread = b""
            if not data:
                raise trio.BrokenResourceError("client closed before its body was complete")
            if remaining is not None:
                data, self._unread = data[:remaining], data[remaining:]
                remaining -= len(data)
            parsed.feed(data)

    def _request(self, parsed: _Parsed) -> Request:
        path, _, query = parsed.target.decode("latin-1").partition("?")
        return Request(
            method=parsed.parser.get_method().decode("ascii"),
            path=unquote(path),
            query_string=query,
            headers=parsed.headers,
            body=b"".join(parsed.body),
            peer=self.peer,
            listener=self.server.name,
        )

    async def _handle(self, request: Request) -> Response:
        try:
            return await self.server._handler(request)
        except NoAnswer:
            raise
        except Exception:
            log.exception("%s: %s %s failed", self.server.name, request.method, request.path)
            return Response.error(500, Result.INTERNAL_ERROR)

    async def _send(self, response: Response, keep_alive: bool, head_only: bool = False) -> None:
        lines = [f"HTTP/1.1 {response.status} {_REASONS.get(response.status, '')}\r\n"]
        lines.append(SERVER_HEADER)
        lines += [f"{name}: {value}\r\n" for name, value in response.headers]
        lines.append(f"Content-Length: {len(response.body)}\r\n")
        if not keep_alive or self.server.stopping:
            lines.append("Connection: close\r\n")
        lines.append("\r\n")
        head = "".join(lines).encode("latin-1")
        await self._write(head if head_only else head + response.body)

    async def _write(self, data: bytes) -> None:
        with trio.move_on_after(self.limits.body_timeout_s):
            await self.stream.send_all(data)
