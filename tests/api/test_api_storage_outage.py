"""Issue #14 item 4: the storage refuses writes for a while under traffic (SQLite: the
database is full; PostgreSQL: the server refuses connections and kills those open). The
gateway stays up, answers 500 only for messages it did not store, delivers every message it
answered 200, and resumes when the storage is back."""

import sqlite3
import threading
import time

import pytest
import trio
from sqlalchemy import select

from gatewayd.core.result_codes import Result
from gatewayd.core.statuses import Status
from gatewayd.storage.engine import SQLITE_BUSY_TIMEOUT_S
from gatewayd.storage.tables import messages
from tests.gateway import KEY
from tests.storage_outage import CLIENTS, StorageOutage, Traffic

OUTAGE_S = 4


def _stored(engine) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(select(messages.c.recipient, messages.c.status))
        return {row.recipient: row.status for row in rows}


async def test_a_storage_outage_under_traffic_slows_the_gateway_down_and_loses_nothing(
    gateway_factory, figures
):
    gateway = await gateway_factory()
    outage = StorageOutage(gateway.runtime.engine)
    traffic = Traffic(gateway.client, KEY)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(traffic.run)
            await traffic.wait_accepted(50)
            await trio.to_thread.run_sync(outage.begin)
            accepted_at_start = len(traffic.accepted)
            await trio.sleep(OUTAGE_S)  # the outage lasts this long, whatever happens
            accepted_during = len(traffic.accepted) - accepted_at_start
            await trio.to_thread.run_sync(outage.end)
            ended = time.monotonic()
            count = len(traffic.accepted)
            await traffic.wait_accepted(count + 1)
            resumed_s = time.monotonic() - ended
            await traffic.wait_accepted(count + 50)
            traffic.stop.set()

    def all_delivered():
        stored = _stored(gateway.runtime.engine)
        return all(stored.get(to) == int(Status.DELIVERED) for to in traffic.accepted)

    await gateway.wait_until(all_delivered, timeout_s=60)
    stored = _stored(gateway.runtime.engine)
    figures.add(
        f"{gateway.runtime.engine.dialect.name}: outage {OUTAGE_S}s under {CLIENTS} clients: "
        f"{len(traffic.accepted)} answered 200 ({accepted_during} during the outage), "
        f"{len(traffic.unavailable)} answered 500, writer attempts refused "
        f"{gateway.runtime.writer.storage_failures}; first 200 {resumed_s:.2f}s after; "
        f"answered 200 but not stored: {len(set(traffic.accepted) - set(stored))}"
    )

    assert traffic.other == []
    assert traffic.unavailable, "the outage was felt"
    assert set(traffic.accepted) <= set(stored), "answered 200 means stored"
    assert not traffic.unavailable & set(stored), "answered 500 means not stored"
    assert all_delivered()
    assert resumed_s < 10


def _write_timeout(seconds: float):
    def patch(text: str) -> str:
        return text.replace(
            "max_body_bytes: 65536}", f"max_body_bytes: 65536, write_timeout_s: {seconds}}}"
        )

    return patch


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # its database-wide lock
async def test_a_request_is_answered_in_bounded_time_while_another_process_locks_the_database(
    gateway_factory, database_url, figures
):
    gateway = await gateway_factory(accounts_patch=_write_timeout(2))
    locked, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        """Another process (a backup, a CLI) holding the write lock for a long time."""
        connection = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(60)
        connection.execute("ROLLBACK")
        connection.close()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.to_thread.run_sync, hold_the_lock)
        await trio.to_thread.run_sync(locked.wait, 10)
        answers = []

        async def send(number: int) -> None:
            started = time.monotonic()
            answer = await gateway.client.post(
                "/sms/v1/Message",
                json={"apiKey": KEY, "to": f"3247100000{number}", "message": "locked"},
                timeout=60,
            )
            answers.append((answer.status_code, time.monotonic() - started))

        async with trio.open_nursery() as requests:
            for number in range(5):
                requests.start_soon(send, number)
        release.set()

    after = await gateway.send(to="32471000009", message="unlocked")
    slowest = max(seconds for _, seconds in answers)
    figures.add(
        f"database locked by another process: {len(answers)} requests answered "
        f"{sorted({status for status, _ in answers})} within {slowest:.1f}s"
    )
    assert {status for status, _ in answers} == {Result.STORAGE_UNAVAILABLE.http_status}
    assert slowest < 2 + SQLITE_BUSY_TIMEOUT_S + 1.5
    assert set(_stored(gateway.runtime.engine)) == {"32471000009"}, (
        "nothing of those answered 500 stored"
    )
    assert after["ResultCode"] == 0
