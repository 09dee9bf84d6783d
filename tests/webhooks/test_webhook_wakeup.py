"""The webhook outbox is woken when jobs commit, takes a burst in few claims and few tasks,
records outcomes in batches, and keeps each message's order and every outcome through
outages, all with a poll far longer than the tests' bounds."""

import functools
import json

import pytest
import trio
from sqlalchemy import select

from gatewayd.core.webhook_outbox import OutboxSettings
from gatewayd.protocols.http.messages import Request, Response
from gatewayd.protocols.http.server import HttpServer, ServerLimits
from gatewayd.storage import outbox as store
from gatewayd.storage.tables import outbox
from tests.storage_outage import StorageOutage

NO_POLL_S = 3600.0
GLOBAL = "webhooks: {retry_base_s: 0.05, retry_max_s: 0.1, retry_horizon_s: 3600}\ncarriers:"


@pytest.fixture(autouse=True)
def no_poll(monkeypatch):
    """The outbox would look for due jobs only once an hour by itself."""
    monkeypatch.setattr(
        "gatewayd.daemon.OutboxSettings", functools.partial(OutboxSettings, idle_poll_s=NO_POLL_S)
    )


class Sink:
    """Keeps the MessageId and Seq of what it accepts, in order; answers 503 while down and
    holds requests while `gate` is closed."""

    def __init__(self) -> None:
        self.down = False
        self.kept: list[tuple[str, int]] = []
        self.seen = 0
        self.gate: trio.Event | None = None
        self.changed = trio.Event()

    async def handle(self, request: Request) -> Response:
        self.seen += 1
        self._changed()
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            return Response(503, b"down")
        record = json.loads(request.body)
        self.kept.append((record["MessageId"], record["Seq"]))
        self._changed()
        return Response(200, b"ok")

    def _changed(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    async def wait(self, condition, timeout_s: float = 10) -> None:
        with trio.fail_after(timeout_s):
            while not condition():
                await self.changed.wait()


@pytest.fixture
async def sink(nursery):
    sink = Sink()
    server = HttpServer("sink", ["127.0.0.1:0"], sink.handle, ServerLimits())
    sink.port = (await nursery.start(server.run))[0][1]
    yield sink
    server.stop()


async def _gateway(gateway_factory):
    return await gateway_factory(accounts_patch=lambda text: text.replace("carriers:", GLOBAL, 1))


def _jobs(runtime, port: int, messages: int, per_message: int) -> list[dict]:
    now = runtime.clock()
    return [
        {
            "channel": "webhook",
            "application": "shop",
            "kind": "status",
            "message_id": f"m{m}",
            "url": f"http://127.0.0.1:{port}/hook",
            "method": "POST",
            "format": "JSON",
            "record": {"MessageId": f"m{m}", "Seq": seq},
            "state": "pending",
            "attempts": 0,
            "time_created": now,
            "next_attempt_at": now,
        }
        for seq in range(per_message)
        for m in range(messages)
    ]


async def _add(runtime, jobs: list[dict]) -> None:
    await runtime.writer.write(lambda connection: store.add_jobs(connection, jobs))


def _states(runtime) -> list[tuple[str, int]]:
    with runtime.engine.connect() as connection:
        return sorted(connection.execute(select(outbox.c.state, outbox.c.attempts)).all())


async def test_an_incoming_message_is_delivered_without_waiting_for_a_poll(
    gateway_factory, receiver
):
    def patch(text: str) -> str:
        hook = f'\n        webhooks: {{incoming: {{url: "{receiver.url}", method: GET}}}}'
        return text.replace("        max_parts: 3", "        max_parts: 3" + hook)

    gateway = await gateway_factory(accounts_patch=patch)
    await gateway.simulator.inject_mo("32470000001", "8686", b"at once")
    await receiver.wait_for(1, timeout_s=5)
    assert receiver.requests[0].query["Message"] == "at once"


async def test_a_burst_goes_out_in_few_claims_tasks_and_writes(gateway_factory, sink):
    gateway = await _gateway(gateway_factory)
    webhooks = gateway.runtime.webhooks
    claims, tasks = webhooks.claims, webhooks._hosts.tasks_started
    writes = webhooks._batches.handled
    await _add(gateway.runtime, _jobs(gateway.runtime, sink.port, messages=100, per_message=1))
    await sink.wait(lambda: len(sink.kept) == 100)
    await gateway.wait_until(lambda: _states(gateway.runtime) == [("delivered", 1)] * 100)
    assert webhooks.claims - claims <= 3, "one claim takes the burst"
    assert webhooks._hosts.tasks_started - tasks <= 8, "max_per_host tasks, not one per job"
    assert webhooks._batches.handled - writes < 50, "outcomes are written in batches"


async def test_each_message_keeps_its_order_through_an_outage(gateway_factory, sink):
    gateway = await _gateway(gateway_factory)
    sink.down = True
    await _add(gateway.runtime, _jobs(gateway.runtime, sink.port, messages=20, per_message=3))
    await sink.wait(lambda: sink.seen >= 60, timeout_s=20)  # retries come due by themselves
    sink.down = False
    await gateway.wait_until(
        lambda: all(state == "delivered" for state, _ in _states(gateway.runtime)), timeout_s=30
    )
    assert sorted(sink.kept) == sorted((f"m{m}", seq) for m in range(20) for seq in range(3))
    for m in range(20):
        assert [seq for message, seq in sink.kept if message == f"m{m}"] == [0, 1, 2]


async def test_outcomes_whose_write_the_storage_refuses_are_recorded_once_it_is_back(
    gateway_factory, sink, nursery
):
    gateway = await _gateway(gateway_factory)
    runtime = gateway.runtime
    outage = StorageOutage(runtime.engine)
    sink.gate = trio.Event()
    await _add(runtime, _jobs(runtime, sink.port, messages=5, per_message=1))
    await sink.wait(lambda: sink.seen == 5)
    await trio.to_thread.run_sync(outage.begin)
    # A write that needs new pages, so that a full SQLite refuses the batches it is in.
    big = [{**row, "record": {"Padding": "x" * 200_000}} for row in _jobs(runtime, 1, 1, 1)]
    big[0]["next_attempt_at"] = None
    nursery.start_soon(_add, runtime, big)
    sink.gate.set()
    await sink.wait(lambda: len(sink.kept) == 5)
    failures = runtime.writer.storage_failures
    with trio.fail_after(10):
        while runtime.writer.storage_failures < failures + 2:
            await trio.sleep(0.01)
    assert _states_now_or_none(runtime) != [("delivered", 1)] * 5
    await trio.to_thread.run_sync(outage.end)
    done = [("delivered", 1)] * 5 + [("pending", 0)]
    await gateway.wait_until(lambda: _states(runtime) == done)
    assert sink.seen == 5, "no webhook was sent again"


def _states_now_or_none(runtime) -> list[tuple[str, int]] | None:
    """The jobs' states, or None when the storage refuses even to read."""
    try:
        return _states(runtime)
    except Exception:
        return None
