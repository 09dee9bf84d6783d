"""The service link: an HTTP worker's calls run on the carrier process's MessageService.

Both ends are real: a Unix socketpair, `serve_link` on one end, RemoteService on the other;
the round trips run on a real MessageService over a migrated SQLite file. The error mapping
is checked with a service whose methods raise, since what matters there is what the caller at
the other end of the link gets.
"""

import pickle
import socket
from datetime import timedelta
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio
from sqlalchemy.exc import IntegrityError

from gatewayd.config.holder import ConfigHolder
from gatewayd.config.loader import parse_config
from gatewayd.config.schema import DatabaseConfig
from gatewayd.core.clock import Clock
from gatewayd.core.message_service import MessageService, OutcomeUnknown
from gatewayd.core.result_codes import Result
from gatewayd.core.service_link import LinkLost, RemoteService, serve_link
from gatewayd.core.submission import SubmitRefused, SubmitRequest, Submitter
from gatewayd.protocols.http import idempotency
from gatewayd.protocols.http.message_api import _message_answer
from gatewayd.protocols.http.server import HttpServer, ServerLimits
from gatewayd.protocols.http.service import api_router
from gatewayd.storage.engine import open_engine
from gatewayd.storage.migrate import upgrade
from gatewayd.storage.writer import (
    StorageUnavailable,
    Writer,
    answer_time_left,
    answering_within,
    is_storage_failure,
)

CONFIG = """
accounts:
  - name: acme
    debug: true
    applications:
      - {name: shop, api_keys: ["shop-key-0123456789"]}
"""


def holder_of(text: str = CONFIG) -> ConfigHolder:
    return ConfigHolder(Path("unused.yaml"), parse_config(text, environ={}))


def stream_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return (
        trio.SocketStream(trio.socket.from_stdlib_socket(ours)),
        trio.SocketStream(trio.socket.from_stdlib_socket(theirs)),
    )


async def linked(nursery, service, core_holder: ConfigHolder):
    """A RemoteService whose calls `serve_link` runs on `service`, with the configuration
    fetched; the list fills with each ready notice."""
    core_end, worker_end = stream_pair()
    notices: list[str] = []
    directory = lambda: core_holder.current.directory  # noqa: E731
    nursery.start_soon(serve_link, core_end, service, directory, lambda: notices.append("ready"))
    remote = RemoteService(worker_end, Clock())
    await nursery.start(remote.run)
    with trio.fail_after(10):
        await remote.load_configuration()
    return remote, notices, core_end


@pytest.fixture
def real_service(tmp_path):
    engine = open_engine(DatabaseConfig(url=f"sqlite:///{tmp_path / 'g.db'}"))
    upgrade(engine)
    holder = holder_of()
    writer = Writer(engine)
    clock = Clock()
    accepted: list[int] = []
    service = MessageService(
        holder,
        engine,
        writer,
        Submitter(engine, writer, clock),
        clock,
        on_accepted=lambda: accepted.append(1),
        webhook_sources=lambda: {"SourceAddresses": ["127.0.0.2"], "Unusable": {}},
    )
    yield service, writer, holder, accepted
    engine.dispose()


async def test_a_message_submitted_through_the_link_is_stored_and_read_back(nursery, real_service):
    service, writer, holder, accepted = real_service
    await nursery.start(writer.run)
    remote, _, _ = await linked(nursery, service, holder)
    app = remote.directory.authenticate("shop-key-0123456789")
    assert app is not None
    with trio.fail_after(10):
        (result,) = await remote.submit(app, SubmitRequest(recipients="32470000001", text="hi"))
        row = await remote.message(app, result.message_id, False)
        records, remaining = await remote.poll(app, "status", False, 10)
        ready = await remote.readiness()
        sources = await remote.webhook_sources()
    assert result.result is Result.OK and result.message_id
    assert accepted == [1], "the dispatcher is woken in the carrier process"
    assert row is not None and row.id == result.message_id and row.recipient == "32470000001"
    assert (records, remaining) == ([], 0)
    assert ready["status"] == "ready"
    assert sources == {"SourceAddresses": ["127.0.0.2"], "Unusable": {}}
    writer.close()


async def test_an_idempotency_answer_is_kept_with_its_messages_in_the_carrier_process(
    nursery, real_service
):
    service, writer, holder, _ = real_service
    await nursery.start(writer.run)
    remote, _, _ = await linked(nursery, service, holder)
    app = remote.directory.authenticate("shop-key-0123456789")
    request = SubmitRequest(recipients="32470000001", text="hi", reference="r1")
    now = remote.clock()
    window = timedelta(hours=1)
    keep = idempotency.keeper(app, "key-1", "asked", now, window)
    with trio.fail_after(10):
        (result,) = await remote.submit(app, request, keep(partial(_message_answer, request)))
        kept = await remote.recall(app, "key-1", now - window)
    assert kept is not None and kept.fingerprint == "asked" and kept.status_code == 200
    assert result.message_id in kept.response_body
    writer.close()


async def test_the_debug_limit_is_counted_once_for_every_linked_process(nursery, real_service):
    service, _writer, holder, _ = real_service
    first, _, _ = await linked(nursery, service, holder)
    second, _, _ = await linked(nursery, service, holder)
    app = first.directory.authenticate("shop-key-0123456789")
    with trio.fail_after(10):
        decisions = [await (first if n % 2 else second).count_debug_request(app) for n in range(31)]
        standing = await first.debug_standing(app)
    assert [d.allowed for d in decisions] == [True] * 30 + [False]
    assert standing.remaining == 0


class Raising:
    """A service whose submit raises what it is given, and records the deadline it ran under."""

    def __init__(self) -> None:
        self.error: Exception | None = None
        self.time_left: float | None = None

    async def configuration(self):
        return holder_of().current.config

    async def submit(self, app, request, remember=None):
        self.time_left = answer_time_left()
        assert self.error is not None
        raise self.error


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (StorageUnavailable("disk full"), StorageUnavailable),
        (IntegrityError("INSERT", None, Exception("UNIQUE constraint failed")), IntegrityError),
        (SubmitRefused(Result.EMPTY_MESSAGE, "no text"), SubmitRefused),
        (ValueError("a bug"), ValueError),
    ],
)
async def test_errors_arrive_as_the_caller_tells_them_apart(nursery, raised, expected):
    service, holder = Raising(), holder_of()
    service.error = raised
    remote, _, _ = await linked(nursery, service, holder)
    app = remote.directory.authenticate("shop-key-0123456789")
    with trio.fail_after(10), pytest.raises(expected) as caught, answering_within(7.0):
        await remote.submit(app, SubmitRequest(recipients="32470000001", text="hi"))
    assert service.time_left is not None and 6.0 < service.time_left <= 7.0
    assert is_storage_failure(caught.value) == isinstance(raised, StorageUnavailable)
    if isinstance(raised, SubmitRefused):
        assert caught.value.result is Result.EMPTY_MESSAGE and caught.value.detail == "no text"
    if expected is ValueError:
        assert str(caught.value) == "a bug"


async def test_an_application_the_carrier_process_does_not_know_fails_that_call_only(nursery):
    """As when the carrier process reloaded (without the application) between a worker's
    fetch of the configuration and its call."""

    class Standing:
        async def configuration(self):
            newer = '      - {name: newer, api_keys: ["newer-key-0123456789"]}\n'
            return holder_of(CONFIG + newer).current.config

        async def debug_standing(self, app):
            return app.name

    remote, _, _ = await linked(nursery, Standing(), holder_of())
    newer = remote.directory.authenticate("newer-key-0123456789")
    shop = remote.directory.authenticate("shop-key-0123456789")
    with trio.fail_after(10):
        with pytest.raises(LookupError, match="newer"):
            await remote.debug_standing(newer)
        assert await remote.debug_standing(shop) == "shop"


async def test_the_worker_serves_the_configuration_of_the_carrier_process(nursery, real_service):
    service, _, holder, _ = real_service
    remote, _, _ = await linked(nursery, service, holder)
    assert remote.config == holder.current.config
    assert remote.directory.authenticate("shop-key-0123456789") is not None


async def test_a_call_outside_the_service_is_not_run(nursery):
    core_end, worker_end = stream_pair()
    service = Raising()
    nursery.start_soon(serve_link, core_end, service, lambda: holder_of().current.directory, list)
    frame = pickle.dumps((1, "__init__", None, pickle.dumps(())))
    with trio.fail_after(10):
        await worker_end.send_all(len(frame).to_bytes(4, "big") + frame)
        answer = await worker_end.receive_some(65536)
    call_id, ok, payload = pickle.loads(answer[4:])
    kind, detail = pickle.loads(payload)
    assert (call_id, ok, kind) == (1, False, "exception")
    assert isinstance(detail, LookupError) and "not a call" in str(detail)


@pytest.mark.parametrize(
    "garbage",
    [b"\xff\xff\xff\xff" + b"x" * 100, b"\x00\x00\x00\x05hello"],
    ids=["oversized frame", "not a pickle"],
)
async def test_garbage_on_the_link_ends_it_without_raising(nursery, garbage):
    core_end, worker_end = stream_pair()
    done = trio.Event()

    async def serve():
        await serve_link(core_end, Raising(), lambda: holder_of().current.directory, list)
        done.set()

    nursery.start_soon(serve)
    with trio.fail_after(10):
        await worker_end.send_all(garbage)
        await done.wait()
        assert await worker_end.receive_some(100) == b"", "the worker is told: the link ended"


class Stuck:
    """A core whose calls never end (its account not in debug mode)."""

    def __init__(self) -> None:
        self.called = trio.Event()

    async def configuration(self):
        return holder_of(CONFIG.replace("    debug: true\n", "")).current.config

    async def readiness(self):
        self.called.set()
        await trio.sleep_forever()

    async def submit(self, app, request, remember=None):
        self.called.set()
        await trio.sleep_forever()


async def stuck_core(nursery) -> tuple[Stuck, RemoteService, trio.CancelScope]:
    """A RemoteService linked to a Stuck core; cancel the scope and the core goes away."""
    service, holder = Stuck(), holder_of()
    core_end, worker_end = stream_pair()
    remote = RemoteService(worker_end, Clock())
    await nursery.start(remote.run)
    core_scope = trio.CancelScope()

    async def core() -> None:
        with core_scope:
            await serve_link(core_end, service, lambda: holder.current.directory, list)
        await core_end.aclose()

    nursery.start_soon(core)
    with trio.fail_after(10):
        await remote.load_configuration()
    return service, remote, core_scope


async def test_a_call_sent_when_the_carrier_process_goes_has_no_known_outcome(nursery):
    """It may have been stored: neither "stored" nor "not stored" may be answered. A call
    made afterwards was never sent: that one was not stored (LinkLost, a storage failure)."""
    service, remote, core_scope = await stuck_core(nursery)
    outcome: list[BaseException] = []

    async def call():
        try:
            await remote.readiness()
        except OutcomeUnknown as error:
            outcome.append(error)

    with trio.fail_after(10):
        async with trio.open_nursery() as calls:
            calls.start_soon(call)
            await service.called.wait()
            core_scope.cancel()
    assert len(outcome) == 1 and remote.lost.is_set()
    assert not is_storage_failure(outcome[0])
    with pytest.raises(LinkLost):
        await remote.readiness()


async def test_an_http_request_in_flight_when_the_carrier_process_goes_gets_no_answer(nursery):
    service, remote, core_scope = await stuck_core(nursery)
    server = HttpServer("api", ["127.0.0.1:0"], api_router(remote), ServerLimits())
    ((host, port),) = await nursery.start(server.run)
    body = {"apiKey": "shop-key-0123456789", "to": "32470000001", "message": "hi"}
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:

        async def go_away():
            await service.called.wait()
            core_scope.cancel()

        nursery.start_soon(go_away)
        with trio.fail_after(10), pytest.raises(httpx.RemoteProtocolError):
            await client.post("/sms/v1/Message", json=body)
        with trio.fail_after(10):
            refused = await client.post("/sms/v1/Message", json=body)
            ready = await client.get("/readyz")
    unavailable = Result.STORAGE_UNAVAILABLE
    assert refused.status_code == unavailable.http_status and refused.headers["Retry-After"]
    assert refused.json()["ResultCode"] == int(unavailable)
    assert ready.status_code == 503 and ready.json()["status"] == "not ready"
    server.stop()


class Odd(Exception):
    """An exception whose __init__ takes other arguments than its args."""

    def __init__(self, code: int) -> None:
        super().__init__(f"odd {code}")
        self.code = code


async def test_what_cannot_travel_fails_its_own_call_and_not_the_link(nursery):
    other = holder_of(CONFIG.replace("name: shop,", "name: elsewhere,")).current.directory

    class Awkward:
        async def configuration(self):
            return holder_of().current.config

        async def readiness(self):
            raise Odd(3)

        async def debug_standing(self, app):
            return other.by_name["elsewhere"]  # an application the worker does not know

        async def webhook_sources(self):
            return {"ok": True}

    remote, _, _ = await linked(nursery, Awkward(), holder_of())
    app = remote.directory.authenticate("shop-key-0123456789")
    with trio.fail_after(10):
        with pytest.raises(RuntimeError, match="Odd: odd 3"):
            await remote.readiness()
        with pytest.raises(RuntimeError, match="cannot be read"):
            await remote.debug_standing(app)
        assert await remote.webhook_sources() == {"ok": True}
    assert not remote.lost.is_set()
