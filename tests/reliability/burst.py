"""Bursts of Message API requests from concurrent clients, and what became of every message.

Every message of a burst has a recipient number of its own, so the carrier's copies (in
`simulator.submitted`) and the status records tell which message they are about.
"""

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx
import trio
from sqlalchemy import Row, Select, select

from gatewayd.config.schema import DatabaseConfig
from gatewayd.core.statuses import Status
from gatewayd.protocols.smpp.simulator import Simulator
from gatewayd.storage.engine import open_engine
from gatewayd.storage.tables import messages
from tests.reliability.nodes import KEY

DELIVERED = int(Status.DELIVERED)
DRAIN_TIMEOUT_S = 120
"""A bound for a stuck queue, not the expected time: draining takes 15 to 30 s here."""


def msisdn(number: int) -> str:
    """A valid Belgian mobile number per message: 3247 and seven digits."""
    return f"3247{number:07d}"


@dataclass
class Burst:
    """Sends `total` messages, `per_request` recipients a request, from `clients` concurrent
    clients spread over `targets` (base URLs, changed by the test when a node goes away).

    An answered request's messages are `accepted` (MessageId -> recipient). A request cut
    after it was sent is `in_doubt` (stored or not); one that never connected is sent again.
    """

    targets: list[str]
    total: int
    per_request: int = 50
    clients: int = 8
    first_number: int = 0
    accepted: dict[str, str] = field(default_factory=dict)
    in_doubt: list[list[str]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0

    def __post_init__(self) -> None:
        assert self.total % self.per_request == 0
        self._requests = 0
        self._sends = 0
        self._pending = 0
        self._unsent: list[list[str]] = []
        self._open = trio.Event()
        self._open.set()
        self._changed = trio.Event()

    @property
    def in_doubt_recipients(self) -> set[str]:
        return {to for request in self.in_doubt for to in request}

    def hold(self) -> None:
        """Send no new request until `release` (requests in flight go on)."""
        if self._open.is_set():
            self._open = trio.Event()

    def release(self) -> None:
        self._open.set()

    async def wait_accepted(self, count: int) -> None:
        while len(self.accepted) < count:
            await self._changed.wait()

    async def run(self) -> None:
        """Return once `total` messages are accepted."""
        self.started = time.monotonic()
        async with httpx.AsyncClient(timeout=30) as client, trio.open_nursery() as nursery:
            for _ in range(self.clients):
                nursery.start_soon(self._client, client)
        self.finished = time.monotonic()

    async def _client(self, client: httpx.AsyncClient) -> None:
        while True:
            await self._open.wait()
            if len(self.accepted) >= self.total:
                return
            if len(self.accepted) + self._pending >= self.total:
                await self._changed.wait()
                continue
            recipients = self._unsent.pop() if self._unsent else self._new_request()
            self._pending += len(recipients)
            try:
                await self._send(client, recipients)
            finally:
                self._pending -= len(recipients)
                self._notify()

    def _new_request(self) -> list[str]:
        first = self.first_number + self._requests * self.per_request
        self._requests += 1
        return [msisdn(first + n) for n in range(self.per_request)]

    async def _send(self, client: httpx.AsyncClient, recipients: list[str]) -> None:
        self._sends += 1
        target = self.targets[self._sends % len(self.targets)]
        body = {"apiKey": KEY, "to": ",".join(recipients), "message": f"burst {recipients[0]}"}
        try:
            response = await client.post(f"{target}/sms/v1/Message", json=body)
        except httpx.ConnectError:
            self._unsent.append(recipients)
            return
        except httpx.TransportError:
            self.in_doubt.append(recipients)
            return
        answer = response.json()
        ids = {m["To"]: m.get("MessageId") for m in answer.get("Messages", [])}
        if response.status_code != 200 or sorted(ids) != sorted(recipients) or None in ids.values():
            self.refused.append(f"{response.status_code} {response.text[:300]}")
            return
        self.accepted.update({message_id: to for to, message_id in ids.items()})

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()


@dataclass
class StatusRecords:
    """What the Status polling endpoint handed out, by recipient."""

    by_recipient: dict[str, list[dict]] = field(default_factory=dict)
    polls: int = 0

    def add(self, records: Iterable[dict]) -> None:
        for record in records:
            self.by_recipient.setdefault(record["To"], []).append(record)

    def final(self, to: str) -> dict | None:
        finals = [r for r in self.by_recipient.get(to, []) if Status(int(r["StatusCode"])).final]
        return finals[0] if finals else None

    def missing(self, recipients: Iterable[str]) -> set[str]:
        """Recipients whose final status has not been handed out."""
        return {to for to in recipients if self.final(to) is None}

    def repeated(self) -> dict[tuple[str, int], int]:
        """(recipient, StatusCode) pairs handed out more than once."""
        seen = Counter((r["To"], r["StatusCode"]) for rs in self.by_recipient.values() for r in rs)
        return {pair: count for pair, count in seen.items() if count > 1}

    def final_codes(self) -> Counter[int]:
        finals = (self.final(to) for to in self.by_recipient)
        return Counter(int(record["StatusCode"]) for record in finals if record is not None)


async def poll_until_final(
    url: str, recipients: set[str], simulator: Simulator, timeout_s: float
) -> StatusRecords:
    """Poll /sms/v1/Status (each record is handed out once) until every one of `recipients`
    has a final status or `timeout_s` has passed; between empty polls, wait (briefly) for
    the carrier side to move."""
    records = StatusRecords()
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        with trio.move_on_after(timeout_s):
            while records.missing(recipients):
                response = await client.post(
                    "/sms/v1/Status", json={"apiKey": KEY, "maxRecords": 1000}
                )
                page = response.json()
                records.polls += 1
                records.add(page["StatusMessages"])
                if page["NumberOfRecords"] == 0:
                    with trio.move_on_after(0.2):
                        await simulator.changed.wait()
    return records


def _read(database_url: str, query: Select) -> list[Row]:
    engine = open_engine(DatabaseConfig(url=database_url))
    try:
        with engine.connect() as connection:
            return list(connection.execute(query))
    finally:
        engine.dispose()


def stored_statuses(database_url: str) -> dict[str, int]:
    """Every stored message's status by recipient, read from the database itself."""
    rows = _read(database_url, select(messages.c.recipient, messages.c.status))
    return {row.recipient: row.status for row in rows}


def claims(database_url: str) -> Counter[str]:
    """How many messages each node holds a claim on, read from the database itself (a claim
    carries the instance id: the node id, a dash and a random suffix)."""
    query = select(messages.c.claimed_by).where(messages.c.claimed_by.is_not(None))
    return Counter(row.claimed_by.rsplit("-", 1)[0] for row in _read(database_url, query))


def carrier_copies(simulator: Simulator) -> Counter[str]:
    """How many times the carrier received each recipient's message."""
    return Counter(s.fields["destination_addr"].decode() for s in simulator.submitted)


def duplicates(copies: Counter[str]) -> int:
    return sum(count - 1 for count in copies.values())
