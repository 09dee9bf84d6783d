"""The writer under a storage that fails (disk full, server refusing) and under deadlines:
the daemon's own work is retried until the storage is back; a write someone waits for
fails at once, or is withdrawn when it has not started in time; nothing of it is stored."""

import threading
import time
from datetime import UTC, datetime

import pytest
import trio
from sqlalchemy import func, insert, select, text

from gatewayd.config.schema import DatabaseConfig
from gatewayd.storage import writer as writer_module
from gatewayd.storage.engine import open_engine
from gatewayd.storage.tables import request_logs
from gatewayd.storage.writer import StorageUnavailable, WriteNotStarted, Writer, answering_within
from tests.storage_outage import StorageOutage

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _log_entry(tag: str):
    """A write big enough to need new pages (64 KiB)."""

    def operation(connection):
        connection.execute(
            insert(request_logs).values(
                account="acme",
                time_created=NOW,
                client_ip="127.0.0.1",
                method="POST",
                path=tag,
                status_code=200,
                request_body="x" * 65_536,
                response_body="",
                duration_ms=1,
            )
        )
        return tag

    return operation


def _stored(engine, tag: str) -> int:
    with engine.connect() as connection:
        query = select(func.count()).select_from(request_logs).where(request_logs.c.path == tag)
        return connection.execute(query).scalar_one()


async def test_the_daemons_own_writes_wait_for_the_storage_and_then_commit(engine):
    writer = Writer(engine)
    outage = StorageOutage(engine)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            await writer.write(_log_entry("before"))
            outage.begin()
            results: list[str] = []
            answered = trio.Event()

            async def during() -> None:
                results.append(await writer.write(_log_entry("during")))
                answered.set()

            nursery.start_soon(during)
            while writer.storage_failures < 3:
                await writer.wait_commit()
            assert results == [], "not answered while the storage refuses it"
            outage.end()
            await answered.wait()
            writer.close()
    assert results == ["during"]
    assert _stored(engine, "during") == 1


async def test_a_write_someone_waits_for_fails_at_once_and_stores_nothing(engine):
    writer = Writer(engine)
    outage = StorageOutage(engine)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            await writer.write(_log_entry("before"))
            outage.begin()
            started = time.monotonic()
            with pytest.raises(StorageUnavailable), answering_within(20):
                await writer.write(_log_entry("refused"))
            failed_after = time.monotonic() - started
            outage.end()
            assert await writer.write(_log_entry("after")) == "after"
            writer.close()
    assert failed_after < 10, "answered at once, not at the deadline"
    assert _stored(engine, "refused") == 0


async def test_a_write_not_started_by_its_deadline_is_withdrawn(engine):
    writer = Writer(engine, max_batch=1)
    entered, release = threading.Event(), threading.Event()

    def blocker(_connection):
        entered.set()
        release.wait(10)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            nursery.start_soon(writer.write, blocker)
            await trio.to_thread.run_sync(entered.wait, 10)
            started = time.monotonic()
            with pytest.raises(WriteNotStarted), answering_within(0.3):
                await writer.write(_log_entry("withdrawn"))
            waited = time.monotonic() - started
            release.set()
            assert await writer.write(_log_entry("next")) == "next"
            writer.close()
    assert 0.3 <= waited < 2
    assert _stored(engine, "withdrawn") == 0, "a withdrawn write never runs"


class _BulkLog:
    def run_bulk(self, connection, tags: list[str]) -> list[str]:
        return [_log_entry(tag)(connection) for tag in tags]


async def test_bulk_items_not_started_by_their_deadline_are_each_withdrawn(engine):
    writer = Writer(engine, max_batch=1)
    entered, release = threading.Event(), threading.Event()

    def blocker(_connection):
        entered.set()
        release.wait(10)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            nursery.start_soon(writer.write, blocker)
            await trio.to_thread.run_sync(entered.wait, 10)
            with answering_within(0.3):
                results = await writer.write_bulk_many(_BulkLog(), ["late-1", "late-2"])
            release.set()
            assert await writer.write_bulk_many(_BulkLog(), ["next"]) == ["next"]
            writer.close()
    assert [type(result) for result in results] == [WriteNotStarted, WriteNotStarted]
    assert _stored(engine, "late-1") == _stored(engine, "late-2") == 0


async def test_a_write_already_started_is_waited_for_past_its_deadline(engine):
    writer = Writer(engine)

    def slow(connection):
        time.sleep(0.5)
        return _log_entry("slow")(connection)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            with answering_within(0.1):
                assert await writer.write(slow) == "slow"
            writer.close()
    assert _stored(engine, "slow") == 1


async def test_a_closed_writer_gives_up_on_a_storage_that_stays_unavailable(engine, monkeypatch):
    monkeypatch.setattr(writer_module, "CLOSING_RETRY_S", 0.5)
    writer = Writer(engine)
    outage = StorageOutage(engine)
    outcome: list[BaseException] = []

    async def doomed() -> None:
        try:
            await writer.write(_log_entry("doomed"))
        except StorageUnavailable as error:
            outcome.append(error)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            await writer.write(_log_entry("before"))
            outage.begin()
            nursery.start_soon(doomed)
            while writer.storage_failures < 1:
                await writer.wait_commit()
            writer.close()
    outage.end()
    assert len(outcome) == 1, "the stop is not held up for ever"
    assert _stored(engine, "doomed") == 0


@pytest.mark.postgres
async def test_a_connection_lost_while_idle_is_replaced_and_the_next_write_commits(
    postgres_url,
):
    """The writer keeps its connection between ticks; the server ending it meanwhile (a
    restart, an operator) must not fail the next write someone waits for."""
    engine = open_engine(DatabaseConfig(url=postgres_url))
    writer = Writer(engine)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            await writer.write(_log_entry("before"))
            await trio.to_thread.run_sync(_end_other_connections, engine)
            with answering_within(5):
                assert await writer.write(_log_entry("after")) == "after"
            writer.close()
        assert (_stored(engine, "before"), _stored(engine, "after")) == (1, 1)
    finally:
        engine.dispose()


def _end_other_connections(engine) -> None:
    with engine.connect() as connection:
        ended = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    assert ended >= 1, "the writer's connection was open"
