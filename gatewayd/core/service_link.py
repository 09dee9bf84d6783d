"""The core's MessageService for front doors in other processes, over a Unix stream socket.

An HTTP worker process calls `RemoteService`, which has the methods of MessageService; each
call travels to the carrier process, where `serve_link` runs it on the real MessageService
and sends back its value or its error. So every write still goes through the carrier
process's one writer (no second writer on SQLite, no lock waits), and the worker only parses
HTTP, checks fields and renders answers.

A frame is a 4-byte length and a pickle of a header (call id, name or outcome, deadline)
and a payload: the arguments or the answer, pickled apart, so that one that cannot be read
fails its own call and not the link. Pickle is read only from a socketpair between a
supervisor and the children it started, never from the network. Applications travel by name
and are looked up again on arrival, in that process's own configuration. What a caller must
tell apart arrives as such: storage failures as StorageUnavailable (answered "not stored",
with Retry-After), a duplicate key as IntegrityError, SubmitRefused as itself. The time left
to start the writes (`answering_within`) goes with each call. When the link ends, a call not
sent yet fails with LinkLost (a StorageUnavailable: nothing was stored); one sent and not
answered fails with OutcomeUnknown (it may have been stored: the caller must not say either).
"""

import io
import itertools
import logging
import math
import pickle
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import trio
from sqlalchemy.exc import IntegrityError

from gatewayd.config.schema import Config
from gatewayd.core.directory import App, Directory
from gatewayd.core.message_service import OutcomeUnknown
from gatewayd.core.rate_limit import RateDecision
from gatewayd.core.submission import RecipientResult, SubmitRefused, SubmitRequest
from gatewayd.storage.writer import (
    StorageUnavailable,
    answer_time_left,
    answering_within,
    is_storage_failure,
)

log = logging.getLogger(__name__)

CALLS = frozenset(
    {
        "submit",
        "cancel",
        "message",
        "poll",
        "blacklisted",
        "add_fragment",
        "recall",
        "log_request",
        "count_debug_request",
        "debug_standing",
        "readiness",
        "webhook_sources",
        "configuration",
    }
)
"""The MessageService methods a linked process may call; nothing else is run."""
READY = "ready"
"""A worker's notice, with no answer, that it serves."""
MAX_FRAME_BYTES = 64 * 1024 * 1024
_LENGTH = 4


class LinkLost(StorageUnavailable):
    """The process at the other end of the link is gone; the call was not sent."""


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj: Any) -> str | None:
        return obj.name if isinstance(obj, App) else None


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, directory: Directory | None) -> None:
        super().__init__(io.BytesIO(data))
        self._directory = directory

    def persistent_load(self, pid: Any) -> App:
        app = self._directory.by_name.get(pid) if self._directory is not None else None
        if app is None:
            raise LookupError(f"application {pid!r} is not in this process's configuration")
        return app


def _payload(value: Any) -> bytes:
    """`value` pickled, applications by name; ValueError if too large for a frame."""
    buffer = io.BytesIO()
    _Pickler(buffer, pickle.HIGHEST_PROTOCOL).dump(value)
    if buffer.tell() > MAX_FRAME_BYTES - 1024:
        raise ValueError(f"{buffer.tell()} bytes are too many for the service link")
    return buffer.getvalue()


def _frame(header: tuple) -> bytes:
    body = pickle.dumps(header, pickle.HIGHEST_PROTOCOL)
    return len(body).to_bytes(_LENGTH, "big") + body


async def _frames(stream: trio.SocketStream) -> AsyncIterator[bytes]:
    """The frames `stream` carries, until it ends, breaks or carries what is not a frame."""
    buffer = bytearray()
    while True:
        try:
            data = await stream.receive_some(65536)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as error:
            log.warning("service link broken: %s", error)
            return
        if not data:
            return
        buffer += data
        while len(buffer) >= _LENGTH:
            size = int.from_bytes(buffer[:_LENGTH], "big")
            if size > MAX_FRAME_BYTES:
                log.error("service link closed: a frame of %d bytes announced", size)
                return
            if len(buffer) < _LENGTH + size:
                break
            yield bytes(buffer[_LENGTH : _LENGTH + size])
            del buffer[: _LENGTH + size]


class _Sender:
    """Frames from many tasks, sent by one: those queued together go in one write."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self._stream = stream
        self._send, self._receive = trio.open_memory_channel[bytes](math.inf)
        self.broken = False

    def put(self, frame: bytes) -> None:
        self._send.send_nowait(frame)

    def close(self) -> None:
        self._send.close()

    async def run(self) -> None:
        async for frame in self._receive:
            frames = [frame]
            while True:
                try:
                    frames.append(self._receive.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            if self.broken:
                continue
            try:
                await self._stream.send_all(b"".join(frames))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self.broken = True


async def serve_link(
    stream: trio.SocketStream,
    service: Any,
    directory: Callable[[], Directory],
    on_ready: Callable[[], None],
) -> None:
    """Run the calls arriving on `stream` on `service` (a MessageService) until the other end
    hangs up or sends what is not a call; calls already running finish (their writes are not
    abandoned) first. Then the stream is closed: the other end sees the link end."""
    sender = _Sender(stream)
    try:
        await _serve_calls(stream, sender, service, directory, on_ready)
    finally:
        with trio.CancelScope(shield=True):
            await stream.aclose()


async def _serve_calls(
    stream: trio.SocketStream,
    sender: _Sender,
    service: Any,
    directory: Callable[[], Directory],
    on_ready: Callable[[], None],
) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sender.run)
        try:
            async with trio.open_nursery() as calls:
                async for frame in _frames(stream):
                    try:
                        call_id, name, time_left, arguments = pickle.loads(frame)
                    except Exception as error:
                        log.error("service link closed: a frame that is not a call: %r", error)
                        break
                    if name == READY:
                        on_ready()
                        continue
                    calls.start_soon(
                        _answer, service, sender, directory(), call_id, name, arguments, time_left
                    )
        finally:
            sender.close()


async def _answer(
    service: Any,
    sender: _Sender,
    directory: Directory,
    call_id: int,
    name: str,
    arguments: bytes,
    time_left: float | None,
) -> None:
    try:
        if name not in CALLS:
            raise LookupError(f"{name!r} is not a call of the service link")
        args = _Unpickler(arguments, directory).load()
        method = getattr(service, name)
        if time_left is None:
            value = await method(*args)
        else:
            with answering_within(time_left):
                value = await method(*args)
        reply = _frame((call_id, True, _payload(value)))
    except Exception as error:
        reply = _frame((call_id, False, _payload(_portable(name, error))))
    sender.put(reply)


def _portable(name: str, error: Exception) -> tuple[str, Any]:
    """An error as the other process can raise it again."""
    if is_storage_failure(error):
        return "storage", str(error)
    if isinstance(error, IntegrityError):
        return "integrity", str(error)
    if not isinstance(error, SubmitRefused):
        log.error("%s for a linked process failed", name, exc_info=error)
    if _travels_whole(error):
        return "exception", error
    return "error", f"{type(error).__name__}: {error}"


def _travels_whole(error: Exception) -> bool:
    """Whether `error` comes out of pickle as it went in (one whose __init__ takes other
    arguments than its args would not)."""
    try:
        copy = pickle.loads(_payload(error))
    except Exception:
        return False
    return type(copy) is type(error) and copy.args == error.args and vars(copy) == vars(error)


def _raise(kind: str, detail: Any) -> None:
    if kind == "storage":
        raise StorageUnavailable(detail)
    if kind == "integrity":
        raise IntegrityError(detail, None, Exception(detail))
    if kind == "exception":
        raise detail
    raise RuntimeError(f"in the carrier process: {detail}")


@dataclass
class _Waiting:
    done: trio.Event = field(default_factory=trio.Event)
    answered: bool = False
    ok: bool = False
    payload: bytes = b""


class RemoteService:
    """MessageService's methods, run by the process at the other end of `stream`.

    `config` and `directory` are those the other process runs on, as `load_configuration`
    last fetched them (at start, and on SIGHUP once the other has reloaded): a worker never
    serves another configuration than the carrier process's, even one started again after
    the file was edited and not yet reloaded."""

    def __init__(self, stream: trio.SocketStream, clock: Callable[[], Any]) -> None:
        self._snapshot: tuple[Config, Directory] | None = None
        self._stream = stream
        self.clock = clock
        self._sender = _Sender(stream)
        self._ids = itertools.count(1)
        self._waiting: dict[int, _Waiting] = {}
        self.lost = trio.Event()

    @property
    def config(self) -> Config:
        assert self._snapshot is not None, "load_configuration() first"
        return self._snapshot[0]

    @property
    def directory(self) -> Directory:
        assert self._snapshot is not None, "load_configuration() first"
        return self._snapshot[1]

    async def load_configuration(self) -> Config:
        """Fetch the other process's configuration and serve it from now on."""
        config = await self._call("configuration")
        self._snapshot = (config, Directory(config))
        return config

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Carry the calls and their answers until the link ends; then `lost` is set."""
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._sender.run)
                task_status.started()
                async for frame in _frames(self._stream):
                    try:
                        call_id, ok, payload = pickle.loads(frame)
                    except Exception as error:
                        log.error("service link closed: a frame that is not an answer: %r", error)
                        break
                    waiting = self._waiting.pop(call_id, None)
                    if waiting is not None:
                        waiting.answered, waiting.ok, waiting.payload = True, ok, payload
                        waiting.done.set()
                nursery.cancel_scope.cancel()
        finally:
            self.lost.set()
            with trio.CancelScope(shield=True):
                await self._stream.aclose()
            for waiting in self._waiting.values():
                waiting.done.set()
            self._waiting.clear()

    def notify_ready(self) -> None:
        self._sender.put(_frame((0, READY, None, _payload(()))))

    async def _call(self, name: str, *args: Any) -> Any:
        if self.lost.is_set():
            raise LinkLost("the carrier process is gone")
        call_id = next(self._ids)
        frame = _frame((call_id, name, answer_time_left(), _payload(args)))
        waiting = self._waiting[call_id] = _Waiting()
        self._sender.put(frame)
        await waiting.done.wait()
        if not waiting.answered:
            raise OutcomeUnknown("the carrier process went away before it answered")
        try:
            value = _Unpickler(waiting.payload, self._known()).load()
        except Exception as error:
            raise RuntimeError(f"the answer to {name} cannot be read: {error!r}") from None
        if not waiting.ok:
            _raise(*value)
        return value

    def _known(self) -> Directory | None:
        return self._snapshot[1] if self._snapshot is not None else None

    async def submit(
        self, app: App, request: SubmitRequest, remember: Callable | None = None
    ) -> list[RecipientResult]:
        return await self._call("submit", app, request, remember)

    async def cancel(self, app: App, message_id: str, sandbox: bool) -> Any:
        return await self._call("cancel", app, message_id, sandbox)

    async def message(self, app: App, message_id: str, sandbox: bool) -> Any:
        return await self._call("message", app, message_id, sandbox)

    async def poll(self, app: App, kind: str, sandbox: bool, limit: int) -> Any:
        return await self._call("poll", app, kind, sandbox, limit)

    async def blacklisted(self, app: App, msisdn: str) -> bool:
        return await self._call("blacklisted", app, msisdn)

    async def add_fragment(self, fragment: dict[str, Any]) -> Any:
        return await self._call("add_fragment", fragment)

    async def recall(self, app: App, key: str, since: Any) -> Any:
        return await self._call("recall", app, key, since)

    async def log_request(self, entry: dict[str, Any]) -> None:
        await self._call("log_request", entry)

    async def count_debug_request(self, app: App) -> RateDecision:
        return await self._call("count_debug_request", app)

    async def debug_standing(self, app: App) -> RateDecision:
        return await self._call("debug_standing", app)

    async def readiness(self) -> dict[str, Any]:
        return await self._call("readiness")

    async def webhook_sources(self) -> dict[str, Any]:
        return await self._call("webhook_sources")
