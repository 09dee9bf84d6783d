"""Issue #7, scenario 3 — webhook outage: the application's receiver is down while statuses
and incoming messages pile up, then comes back. Every record reaches the application, once
per record when de-duplicated by MessageId (+ StatusCode), at least once on the wire.

The outage has three phases, each ended by what the gateway has done rather than by time:
the port is closed (every due job is refused twice), then the receiver answers 503 (every
record that is due is turned away once: a message's Delivered waits for its Submitted), then
it comes back shakily (the first answers are lost after the
application kept the record, so those records arrive twice), then it answers 200.
Short retry settings (webhooks.retry_base_s / retry_max_s) make the retries quick.
"""

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import trio
from sqlalchemy import func, select

from gatewayd.core.statuses import Status
from gatewayd.protocols.http.messages import Request, Response
from gatewayd.protocols.http.server import HttpServer, ServerLimits
from gatewayd.protocols.webhooks.egress import Egress
from gatewayd.protocols.webhooks.formats import WebhookRequest
from gatewayd.storage.tables import outbox
from tests.daemon.conftest import free_port
from tests.gateway import Gateway

MESSAGES = 60
INCOMING = 40
STATUSES_PER_MESSAGE = 2  # Submitted, then Delivered
RECORDS = MESSAGES * STATUSES_PER_MESSAGE + INCOMING
LOST_ANSWERS = 12
WEBHOOKS = """webhooks: {retry_base_s: 0.05, retry_max_s: 0.2, retry_horizon_s: 3600,
           timeout_s: 2, connect_timeout_s: 2, max_per_host: 16}
carriers:"""
APPLICATION_HOOKS = """
        webhooks:
          status: {{url: "http://127.0.0.1:{port}/status", method: POST, format: JSON}}
          incoming: {{url: "http://127.0.0.1:{port}/incoming", method: GET, format: XML}}"""

RecordKey = tuple[str, str, int]
"""('status', MessageId, StatusCode) or ('incoming', MessageId, 0)."""


class Phase(Enum):
    UNAVAILABLE = "answers 503"
    SHAKY = "keeps the record, its answer is lost"
    UP = "answers 200"


@dataclass
class Application:
    """The customer's webhook receiver: what arrives on the wire, what the application keeps."""

    phase: Phase = Phase.UNAVAILABLE
    lost_answers_left: int = LOST_ANSWERS
    wire: list[tuple[RecordKey, str]] = field(default_factory=list)
    kept: list[RecordKey] = field(default_factory=list)
    incoming_texts: dict[str, str] = field(default_factory=dict)
    released: trio.Event = field(default_factory=trio.Event)
    changed: trio.Event = field(default_factory=trio.Event)

    async def handle(self, request: Request) -> Response:
        key, content = record_of(request)
        self.wire.append((key, content))
        self._notify()
        if self.phase is Phase.UNAVAILABLE:
            return Response(503, b"down for maintenance")
        self.kept.append(key)
        if key[0] == "incoming":
            self.incoming_texts[key[1]] = request.query["Message"]
        if self.phase is Phase.SHAKY and self.lost_answers_left:
            self.lost_answers_left -= 1
            await self.released.wait()  # past the gateway's timeout: the answer is lost
        return Response(200, b"ok")

    def _notify(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    async def wait_until(self, condition: Callable[[], bool], timeout_s: float = 20) -> None:
        with trio.fail_after(timeout_s):
            while not condition():
                await self.changed.wait()


def record_of(request: Request) -> tuple[RecordKey, str]:
    """The record a webhook request carries: its key and its content as sent."""
    if request.path == "/status":
        record = json.loads(request.body)
        return ("status", record["MessageId"], record["StatusCode"]), request.body.decode()
    fields = request.query
    return ("incoming", fields["MessageId"], 0), json.dumps(fields, sort_keys=True)


def with_hooks_to(port: int) -> Callable[[str], str]:
    def patch(text: str) -> str:
        hooks = APPLICATION_HOOKS.format(port=port)
        text = text.replace("        max_parts: 3", "        max_parts: 3" + hooks)
        return text.replace("carriers:", WEBHOOKS, 1)

    return patch


def jobs(gateway: Gateway) -> list[tuple[str, int, bool]]:
    """(state, attempts, due) of every webhook job; one not due waits for an earlier one."""
    query = select(outbox.c.state, outbox.c.attempts, outbox.c.next_attempt_at.is_not(None)).where(
        outbox.c.channel == "webhook"
    )
    with gateway.runtime.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


def attempts_made(gateway: Gateway) -> int:
    query = select(func.sum(outbox.c.attempts)).where(outbox.c.channel == "webhook")
    with gateway.runtime.engine.connect() as connection:
        return connection.execute(query).scalar_one()


async def produce_records(gateway: Gateway) -> tuple[set[RecordKey], set[str]]:
    """Messages sent and delivered, incoming messages received: the status records the
    application must get, and the texts of the incoming ones."""
    recipients = ",".join(str(32470000000 + n) for n in range(MESSAGES))
    answer = await gateway.send(to=recipients, message="outage")
    ids = [m["MessageId"] for m in answer["Messages"]]
    assert len(ids) == MESSAGES
    texts = {f"incoming {n}" for n in range(INCOMING)}
    for text in sorted(texts):
        await gateway.simulator.inject_mo("32470009000", "8686", text.encode())
    codes = (Status.SUBMITTED.code, Status.DELIVERED.code)
    statuses = {("status", message_id, code) for message_id in ids for code in codes}
    return statuses, texts


async def test_every_record_reaches_the_application_once_after_an_outage(
    gateway_factory, nursery, figures
) -> None:
    port = free_port()
    gateway = await gateway_factory(accounts_patch=with_hooks_to(port))
    application = Application()

    statuses, texts = await produce_records(gateway)
    await gateway.wait_until(lambda: len(jobs(gateway)) == RECORDS)
    await gateway.wait_until(lambda: min(a for _, a, due in jobs(gateway) if due) >= 2)
    waiting = sum(not due for _, _, due in jobs(gateway))
    assert waiting == MESSAGES, "each Delivered waits for its message's Submitted"

    server = HttpServer("application", [f"127.0.0.1:{port}"], application.handle, ServerLimits())
    await nursery.start(server.run)
    due = RECORDS - MESSAGES
    await application.wait_until(lambda: len({key for key, _ in application.wire}) == due)
    turned_away = len(application.wire)

    application.phase = Phase.SHAKY
    await application.wait_until(lambda: application.lost_answers_left == 0)
    application.phase = Phase.UP
    await gateway.wait_until(lambda: all(state == "delivered" for state, *_ in jobs(gateway)))
    application.released.set()

    kept = Counter(application.kept)
    assert {key for key in kept if key[0] == "status"} == statuses, "every status, once"
    assert len(kept) == RECORDS, "no record missing, none extra"
    assert sorted(application.incoming_texts.values()) == sorted(texts), "every incoming, once"
    assert Counter(kept.values()) == {1: RECORDS - LOST_ANSWERS, 2: LOST_ANSWERS}, (
        "a record reaches the application again only when its answer was lost"
    )
    contents: dict[RecordKey, set[str]] = {}
    for key, content in application.wire:
        contents.setdefault(key, set()).add(content)
    assert all(len(sent) == 1 for sent in contents.values()), "a retry repeats the record"
    arrivals = [key for key, _ in application.wire if key[0] == "status"]
    for message_id in {key[1] for key in arrivals}:
        codes = [code for _, m, code in arrivals if m == message_id]
        assert codes == sorted(codes, key=lambda c: c != Status.SUBMITTED.code), (
            "every Submitted of a message on the wire before its Delivered"
        )

    on_wire = len(application.wire)
    total_attempts = attempts_made(gateway)
    figures.add(
        f"{RECORDS} records ({len(statuses)} statuses, {INCOMING} incoming), each kept once by "
        f"the application after de-duplication, {sum(kept.values()) - len(kept)} kept twice "
        f"({LOST_ANSWERS} answers lost); {total_attempts} attempts: "
        f"{total_attempts - on_wire} refused (port closed), {on_wire} on the wire "
        f"({turned_away} answered 503), {on_wire - RECORDS} duplicates on the wire"
    )


async def test_a_url_the_client_cannot_use_is_a_failed_attempt_not_a_crash() -> None:
    egress = Egress([], connect_timeout_s=0.5, timeout_s=0.5)
    attempts = [
        await egress.send(WebhookRequest("POST", url, {}, b"{}"), {})
        for url in ("http://[::1/x", "http://127.0.0.1:99999/x", "http://" + "a" * 70 + ".net/")
    ]
    await egress.aclose()
    assert [a.delivered for a in attempts] == [False] * 3
    assert all(a.error for a in attempts)
