"""A small, fast HTTP/1.1 server: h11 driven directly by trio.

h11 does the parsing and the protocol state machine; this module adds sockets, limits
(header and body size, header/body/idle timeouts, connection count) and a graceful stop:
`stop()` closes the listeners, lets requests in flight finish within `drain_timeout_s`, and
answers them with `Connection: close`. Each request head is read here first and made strict
(request_head.py) before h11 sees it, so each request gets an h11 connection of its own.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import unquote

import h11
import trio

from gatewayd.config.types import parse_listen
from gatewayd.core.result_codes import Result
from gatewayd.protocols.http.messages import Handler, Request, Response
from gatewayd.protocols.http.request_head import (
    AmbiguousHead,
    drop_leading_empty_lines,
    normalize_head,
    split_head,
)

log = logging.getLogger(__name__)
READ_SIZE = 65536
SERVER_HEADER = ("Server", "gatewayd")
_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}
# The bare line: the PHP client takes the answer's head to end at the first blank line and
# skips it only if what precedes is exactly "HTTP/1.1 100 Continue".
CONTINUE = h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")


class ListenError(Exception):
    """An address to listen on cannot be bound (in use, not local, no permission)."""


@dataclass(frozen=True)
class ServerLimits:
    max_header_bytes: int = 16_384
    max_body_bytes: int = 1_048_576
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    idle_timeout_s: float = 60.0
    max_connections: int = 1000
    drain_timeout_s: float = 5.0


class _Reject(Exception):
    """Answer with this response and close the connection."""

    def __init__(self, response: Response) -> None:
        self.response = response


class HttpServer:
    def __init__(
        self,
        name: str,
        listen: list[str],
        handler: Handler,
        limits: ServerLimits,
        on_response: Callable[[str, int, float], None] | None = None,
    ) -> None:
        """`on_response(listener, status, seconds)` is told of every answer (for metrics)."""
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
        listeners = await self._open_listeners()
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

    async def _open_listeners(self) -> list[trio.SocketListener]:
        listeners: list[trio.SocketListener] = []
        for address in self._listen:
            host, port = parse_listen(address)
            try:
                listeners += await trio.open_tcp_listeners(port, host=host, backlog=1024)
            except OSError as error:
                for listener in listeners:
                    await listener.aclose()
                reason = "address already in use" if error.errno == 98 else error.strerror
                raise ListenError(f"{self.name}: cannot listen on {address}: {reason}") from None
        return listeners

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
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
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


class _Connection:
    def __init__(self, server: HttpServer, stream: trio.SocketStream, peer: str) -> None:
        self.server = server
        self.limits = server._limits
        self.stream = stream
        self.peer = peer
        self.h11 = self._new_h11()
        self._unread = b""
        self._peer_closed = False

    def _new_h11(self) -> h11.Connection:
        return h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_header_bytes)

    async def serve(self) -> None:
        timeout = self.limits.header_timeout_s
        while True:
            head = None
            with trio.move_on_after(timeout):
                try:
                    head = await self._next_event()
                except h11.RemoteProtocolError as error:
                    status = error.error_status_hint
                    await self._send_error(
                        Response.error(status, Result.MALFORMED_REQUEST, str(error))
                    )
                    return
            if not isinstance(head, h11.Request):
                return
            self.server._mark_busy(True)
            try:
                started = time.perf_counter()
                response = await self._handle(head)
                await self._send(response)
                if self.server.on_response is not None:
                    elapsed = time.perf_counter() - started
                    self.server.on_response(self.server.name, response.status, elapsed)
            except _Reject as reject:
                await self._send_error(reject.response)
                return
            finally:
                self.server._mark_busy(False)
            if not self._next_cycle():
                return
            timeout = self.limits.idle_timeout_s

    def _next_cycle(self) -> bool:
        """Ready for the connection's next request, with what h11 read past this one."""
        states = (self.h11.our_state, self.h11.their_state)
        if states != (h11.DONE, h11.DONE) or self.server.stopping:
            return False
        self._unread, self._peer_closed = self.h11.trailing_data
        self._unread = bytes(self._unread)
        self.h11 = self._new_h11()
        return True

    async def _next_event(self):
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                if self.h11.their_state is h11.IDLE:
                    await self._receive_head()
                    continue
                if self.h11.they_are_waiting_for_100_continue:
                    await self._write(self.h11.send(CONTINUE))
                data = await self.stream.receive_some(READ_SIZE)
                self.h11.receive_data(data)
                continue
            return event

    async def _receive_head(self) -> None:
        """Hand h11 the next request head, made strict, and whatever came after it."""
        buffer = self._unread
        self._unread = b""
        while True:
            buffer = drop_leading_empty_lines(buffer)
            parts = split_head(buffer)
            size = len(parts[0]) if parts else len(buffer)
            if size > self.limits.max_header_bytes:
                raise h11.RemoteProtocolError("request head too large", 431)
            if parts is not None:
                break
            data = b"" if self._peer_closed else await self.stream.receive_some(READ_SIZE)
            if not data:
                self.h11.receive_data(buffer)
                self.h11.receive_data(b"")
                return
            buffer += data
        head, rest = parts
        try:
            head = normalize_head(head)
        except AmbiguousHead as error:
            raise h11.RemoteProtocolError(f"ambiguous request framing: {error}", 400) from None
        self.h11.receive_data(head + rest)
        if self._peer_closed:
            self.h11.receive_data(b"")

    async def _handle(self, head: h11.Request) -> Response:
        if head.http_version not in (b"1.0", b"1.1"):
            raise _Reject(Response.error(505, Result.MALFORMED_REQUEST, "HTTP/1.1 only"))
        headers: dict[str, str] = {}
        for name, value in head.headers:
            key = name.decode("latin-1")
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        length = headers.get("content-length")
        if length is not None and int(length) > self.limits.max_body_bytes:
            raise _Reject(self._too_large())
        body = await self._read_body()
        target = head.target.decode("latin-1")
        path, _, query = target.partition("?")
        request = Request(
            method=head.method.decode("ascii", errors="replace"),
            path=unquote(path),
            query_string=query,
            headers=headers,
            body=body,
            peer=self.peer,
            listener=self.server.name,
        )
        try:
            return await self.server._handler(request)
        except Exception:
            log.exception("%s: %s %s failed", self.server.name, request.method, request.path)
            return Response.error(500, Result.INTERNAL_ERROR)

    def _too_large(self) -> Response:
        """RingRing's status for it (400, which every client reads), not 413."""
        result = Result.BODY_TOO_LARGE
        detail = f"at most {self.limits.max_body_bytes} bytes"
        return Response.error(result.http_status, result, detail)

    async def _read_body(self) -> bytes:
        chunks: list[bytes] = []
        size = 0
        with trio.move_on_after(self.limits.body_timeout_s) as scope:
            while True:
                try:
                    event = await self._next_event()
                except h11.RemoteProtocolError as error:
                    raise _Reject(
                        Response.error(400, Result.MALFORMED_REQUEST, str(error))
                    ) from None
                if isinstance(event, h11.Data):
                    size += len(event.data)
                    if size > self.limits.max_body_bytes:
                        raise _Reject(self._too_large())
                    chunks.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    return b"".join(chunks)
                elif isinstance(event, h11.ConnectionClosed):
                    raise trio.BrokenResourceError("client closed before its body was complete")
        if scope.cancelled_caught:
            raise _Reject(
                Response.error(408, Result.MALFORMED_REQUEST, "body not received in time")
            )
        return b""

    async def _send(self, response: Response) -> None:
        headers = [SERVER_HEADER, *response.headers, ("Content-Length", str(len(response.body)))]
        if self.server.stopping:
            headers.append(("Connection", "close"))
        head = h11.Response(
            status_code=response.status, headers=headers, reason=_REASONS.get(response.status, b"")
        )
        data = self.h11.send(head)
        data += self.h11.send(h11.Data(data=response.body)) if response.body else b""
        data += self.h11.send(h11.EndOfMessage())
        await self._write(data)

    async def _send_error(self, response: Response) -> None:
        if self.h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        response.headers.append(("Connection", "close"))
        try:
            await self._send(response)
        except h11.LocalProtocolError:
            return

    async def _write(self, data: bytes) -> None:
        with trio.move_on_after(self.limits.body_timeout_s):
            await self.stream.send_all(data)
