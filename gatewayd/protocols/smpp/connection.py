"""A Session driven over a trio stream: requests await their responses, the peer's requests
are answered by a handler, enquire_link keeps the link checked, and everything a dead
connection leaves unanswered fails with ConnectionLost (the caller re-queues it).

The peer's requests are handled one task each (a RequestHandler, for requests that take
their own time, like an ESME's submit_sm) or in batches (a `Batched` handler, for a carrier's
deliver_sm): every request decoded from one read, and those that arrive while the previous
batch is handled, go to the handler at once, and their responses leave in one send.
"""

import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from gatewayd.protocols.smpp import codec
from gatewayd.protocols.smpp.codec import Pdu
from gatewayd.protocols.smpp.session import (
    BadPdu,
    PeerUnbound,
    RequestReceived,
    ResponseReceived,
    Session,
    UnmatchedResponse,
)

log = logging.getLogger(__name__)
Answer = tuple[int, dict[str, Any]]
RequestHandler = Callable[[Pdu], Awaitable[Answer]]
BatchHandler = Callable[[list[Pdu]], Awaitable[list[Answer]]]
READ_SIZE = 65_536


@dataclass(frozen=True)
class Batched:
    """A handler of requests in batches: one answer per request, in order."""

    handle: BatchHandler


class ConnectionLost(Exception):
    """The connection ended before the response came: the request may or may not have arrived."""


class ResponseTimeout(Exception):
    """No response within the response timeout."""


class ResponseHandler(ABC):
    """The context of a request: told its response, or None when the connection ended first.
    Called from the read loop, so it must not block."""

    @abstractmethod
    def answered(self, response: Pdu | None) -> None: ...


@dataclass(eq=False)
class _Waiter(ResponseHandler):
    done: trio.Event = field(default_factory=trio.Event)
    response: Pdu | None = None

    def answered(self, response: Pdu | None) -> None:
        self.response = response
        self.done.set()


class SmppConnection:
    def __init__(
        self,
        stream: trio.abc.Stream,
        session: Session,
        on_request: RequestHandler | Batched,
        *,
        name: str,
        response_timeout_s: float = 10.0,
        enquire_link_s: float = 30.0,
        max_inbound: int = 64,
    ) -> None:
        self.stream = stream
        self.session = session
        self.name = name
        self._on_request = on_request
        self._response_timeout_s = response_timeout_s
        self._enquire_link_s = enquire_link_s
        self._send_lock = trio.Lock()
        self._inbound = trio.Semaphore(max_inbound)
        self._window = max_inbound
        self._requests: list[Pdu] = []
        """Batch mode: requests received, not yet handed to the handler."""
        self._handling = 0
        self._requests_came = trio.Event()
        self._requests_answered = trio.Event()
        self._closed = trio.Event()
        self._last_received = trio.current_time()
        self._nursery: trio.Nursery | None = None

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Read and answer until the peer goes or `close()` is called."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._keepalive)
                if isinstance(self._on_request, Batched):
                    nursery.start_soon(self._answer_batches, self._on_request.handle)
                task_status.started()
                await self._read_loop()
                nursery.cancel_scope.cancel()
        finally:
            self._mark_closed()
            with trio.CancelScope(shield=True):
                await self.stream.aclose()

    async def request(self, command: str, **fields: Any) -> Pdu:
        """Send a request; its response (any command_status), or ConnectionLost/ResponseTimeout."""
        if self.closed:
            raise ConnectionLost(f"{self.name}: connection closed")
        waiter = _Waiter()
        sequence = self.session.send_request(command, waiter, **fields)
        await self._flush()
        with trio.move_on_after(self._response_timeout_s):
            await waiter.done.wait()
        if waiter.response is not None:
            return waiter.response
        if self.closed:
            raise ConnectionLost(f"{self.name}: connection lost before the {command}_resp")
        self.session.forget(sequence)
        raise ResponseTimeout(f"{self.name}: no {command}_resp in {self._response_timeout_s}s")

    def queue_request(self, command: str, handler: ResponseHandler, **fields: Any) -> int:
        """Queue a request without sending it (see `send_queued`): many requests then go out
        in one write, their responses handed to `handler` by the read loop. ValueError when
        a field cannot be encoded (nothing is queued then)."""
        if self.closed:
            raise ConnectionLost(f"{self.name}: connection closed")
        return self.session.send_request(command, handler, **fields)

    async def send_queued(self) -> None:
        """Send what was queued, in one write; ConnectionLost when the connection is gone
        (the handlers of what it had in flight are told so)."""
        await self._flush()

    async def unbind(self, timeout_s: float = 2.0) -> None:
        """Say goodbye properly; whatever happens, the connection is closed afterwards."""
        with trio.move_on_after(timeout_s):
            with contextlib.suppress(
                ConnectionLost, ResponseTimeout, trio.BrokenResourceError, trio.ClosedResourceError
            ):
                await self.request("unbind")
        await self.close()

    async def close(self) -> None:
        self._mark_closed()
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()
        with trio.CancelScope(shield=True):
            await self.stream.aclose()

    async def _flush(self) -> None:
        """Send what the session has queued. Taken under the lock: what others queued while a
        send was in progress goes out in the next one, many PDUs in one write."""
        if not self.session.has_data_to_send:
            return
        async with self._send_lock:
            data = self.session.data_to_send()
            if not data:
                return
            # A peer that stops reading must not hold us: past the response timeout the
            # connection is given up (what it had in flight comes back as ConnectionLost).
            with trio.move_on_after(self._response_timeout_s) as stuck:
                try:
                    await self.stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    self._mark_closed()
                    raise ConnectionLost(f"{self.name}: connection lost while sending") from None
            if stuck.cancelled_caught:
                log.warning("%s: the peer does not read; closing", self.name)
                await self.close()
                raise ConnectionLost(f"{self.name}: the peer stopped reading")

    async def _read_loop(self) -> None:
        batched = isinstance(self._on_request, Batched)
        while True:
            if batched:
                # The window: no more reading while that many requests wait for an answer.
                while len(self._requests) + self._handling >= self._window:
                    await self._requests_answered.wait()
            try:
                data = await self.stream.receive_some(READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                return
            if not data:
                return
            self._last_received = trio.current_time()
            received: list[Pdu] = []
            for event in self.session.receive_data(data):
                if batched and isinstance(event, RequestReceived):
                    received.append(event.pdu)
                elif not await self._dispatch(event):
                    self._hand_over(received)
                    return
            self._hand_over(received)
            # What the session answered by itself (enquire_link_resp) produces no event.
            await self._flush_quietly()

    def _hand_over(self, requests: list[Pdu]) -> None:
        """Batch mode: queue what one read brought, for the next batch."""
        if requests:
            self._requests += requests
            self._requests_came.set()

    async def _answer_batches(self, handle: BatchHandler) -> None:
        """Hand the queued requests (at most a window of them) to the handler, answer them
        all in one send, and again, for as long as the connection runs."""
        while True:
            while not self._requests:
                await self._requests_came.wait()
                self._requests_came = trio.Event()
            batch = self._requests[: self._window]
            del self._requests[: len(batch)]
            self._handling = len(batch)
            try:
                answers = await handle(batch)
                if len(answers) != len(batch):
                    raise ValueError(f"{len(answers)} answers to {len(batch)} requests")
            except Exception:
                log.exception("%s: handling %d requests failed", self.name, len(batch))
                answers = [(codec.ESME_RSYSERR, {})] * len(batch)
            for pdu, (status, fields) in zip(batch, answers, strict=True):
                self.session.send_response(pdu, status, **fields)
            self._handling = 0
            self._requests_answered.set()
            self._requests_answered = trio.Event()
            await self._flush_quietly()

    async def _dispatch(self, event) -> bool:
        """Handle one event; False when the connection must end."""
        if isinstance(event, ResponseReceived):
            handler = event.context
            if isinstance(handler, ResponseHandler):
                handler.answered(event.pdu)
        elif isinstance(event, RequestReceived):
            assert not isinstance(self._on_request, Batched)
            window = self._inbound
            await window.acquire()
            assert self._nursery is not None
            self._nursery.start_soon(self._answer, event.pdu, window)
        elif isinstance(event, BadPdu):
            log.warning("%s: %s", self.name, event.error)
            await self._flush_quietly()
            if event.error.fatal:
                return False
        elif isinstance(event, PeerUnbound):
            await self._flush_quietly()
            return False
        elif isinstance(event, UnmatchedResponse):
            log.info("%s: response to unknown sequence %d", self.name, event.pdu.sequence)
        await self._flush_quietly()
        return True

    def set_inbound_window(self, size: int) -> None:
        """How many of the peer's requests may be handled at once (its window with us)."""
        self._inbound = trio.Semaphore(size)
        self._window = size
        self._requests_answered.set()
        self._requests_answered = trio.Event()

    async def _answer(self, pdu: Pdu, window: trio.Semaphore) -> None:
        assert not isinstance(self._on_request, Batched)
        try:
            try:
                status, fields = await self._on_request(pdu)
            except Exception:
                log.exception("%s: handling %s failed", self.name, pdu.command)
                status, fields = codec.ESME_RSYSERR, {}
            self.session.send_response(pdu, status, **fields)
            await self._flush_quietly()
        finally:
            window.release()

    async def _flush_quietly(self) -> None:
        with contextlib.suppress(ConnectionLost):
            await self._flush()

    async def _keepalive(self) -> None:
        """enquire_link after `enquire_link_s` of silence; no answer means the link is dead."""
        while True:
            idle_until = self._last_received + self._enquire_link_s
            if trio.current_time() < idle_until:
                await trio.sleep_until(idle_until)
                continue
            try:
                await self.request("enquire_link")
            except (ConnectionLost, ResponseTimeout) as error:
                log.warning("%s: link check failed: %s", self.name, error)
                await self.close()
                return
            self._last_received = trio.current_time()

    def _mark_closed(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            for context in self.session.take_pending():
                if isinstance(context, ResponseHandler):
                    context.answered(None)
