"""Group commit: concurrent writes share transactions; each is woken once committed."""

from datetime import UTC, datetime
from functools import partial

import pytest
import trio
import trio.testing
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from gatewayd.storage.tables import blacklist
from gatewayd.storage.writer import Writer, WriterClosed, notify_after_commit

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _add(msisdn: str):
    def operation(connection):
        connection.execute(
            insert(blacklist).values(account="acme", msisdn=msisdn, source="cli", time_created=NOW)
        )
        return msisdn

    return operation


def _committed(engine, msisdn: str) -> bool:
    with engine.connect() as connection:
        query = select(func.count()).select_from(blacklist).where(blacklist.c.msisdn == msisdn)
        return connection.execute(query).scalar_one() == 1


async def test_concurrent_writes_are_batched_and_visible_when_woken(engine):
    writer = Writer(engine)
    seen_uncommitted = []

    async def request(number: int) -> None:
        msisdn = f"3247{number:07d}"
        assert await writer.write(_add(msisdn)) == msisdn
        if not await trio.to_thread.run_sync(_committed, engine, msisdn):
            seen_uncommitted.append(msisdn)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            async with trio.open_nursery() as requests:
                for number in range(300):
                    requests.start_soon(request, number)
            writer.close()
    assert seen_uncommitted == []
    assert writer.operations == 300
    assert writer.batches < 300 / 5, "concurrent writes should share transactions"


async def test_a_failing_write_fails_alone_and_the_rest_of_its_batch_commits(engine):
    writer = Writer(engine)
    outcomes: dict[str, object] = {}

    async def request(msisdn: str) -> None:
        try:
            outcomes[msisdn] = await writer.write(_add(msisdn))
        except IntegrityError as error:
            outcomes[msisdn] = error

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            await writer.write(_add("1000"))
            async with trio.open_nursery() as requests:
                for msisdn in ["1001", "1000", "1002", "1003"]:
                    requests.start_soon(request, msisdn)
            writer.close()
    assert isinstance(outcomes["1000"], IntegrityError)
    assert [outcomes[m] for m in ["1001", "1002", "1003"]] == ["1001", "1002", "1003"]
    assert all(_committed(engine, m) for m in ["1000", "1001", "1002", "1003"])


async def test_a_closed_writer_refuses_new_writes_but_finishes_queued_ones(engine):
    writer = Writer(engine)
    writer.close()
    with pytest.raises(WriterClosed):
        await writer.write(_add("1"))
    with trio.fail_after(5):
        await writer.run()


class _BulkAdd:
    """A bulk operation that records how many calls its items needed."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def run_bulk(self, connection, items: list[str]) -> list[str]:
        self.calls.append(len(items))
        if "bad" in items:
            raise ValueError("a bad item")
        connection.execute(
            insert(blacklist),
            [{"account": "acme", "msisdn": m, "source": "cli", "time_created": NOW} for m in items],
        )
        return [f"stored {m}" for m in items]


async def test_bulk_items_of_one_batch_are_written_by_one_call_each_answered_alone(engine):
    writer = Writer(engine)
    bulk = _BulkAdd()
    answers: dict[str, str] = {}

    async def request(msisdn: str) -> None:
        answers[msisdn] = await writer.write_bulk(bulk, msisdn)

    msisdns = [f"3248{n:07d}" for n in range(200)]
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            async with trio.open_nursery() as requests:
                for msisdn in msisdns:
                    requests.start_soon(request, msisdn)
            writer.close()
    assert answers == {m: f"stored {m}" for m in msisdns}
    assert sum(bulk.calls) == 200
    assert len(bulk.calls) < 200 / 5, "items of one batch should be written together"
    assert all(_committed(engine, m) for m in msisdns)


async def test_a_failing_bulk_item_fails_alone(engine):
    writer = Writer(engine)
    bulk = _BulkAdd()
    outcomes: dict[str, object] = {}

    async def request(item: str) -> None:
        try:
            outcomes[item] = await writer.write_bulk(bulk, item)
        except ValueError as error:
            outcomes[item] = error

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            async with trio.open_nursery() as requests:
                for item in ["2001", "bad", "2002"]:
                    requests.start_soon(request, item)
            writer.close()
    assert isinstance(outcomes["bad"], ValueError)
    assert outcomes["2001"] == "stored 2001" and outcomes["2002"] == "stored 2002"
    assert _committed(engine, "2001") and _committed(engine, "2002")


async def test_write_bulk_many_writes_its_items_together_and_each_fails_alone(engine):
    writer = Writer(engine)
    bulk = _BulkAdd()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            await writer.write(_add("1000"))
            results = await writer.write_bulk_many(bulk, ["3001", "1000", "3002"])
            writer.close()
    good, duplicate, other = results
    assert isinstance(duplicate, IntegrityError), "the item the storage refused, alone"
    assert (good, other) == ("stored 3001", "stored 3002")
    assert bulk.calls == [3, 1, 1, 1], "one call for the three, then one each"
    assert _committed(engine, "3001") and _committed(engine, "3002")


async def test_write_bulk_many_on_a_closed_writer_queues_nothing(engine):
    writer = Writer(engine)
    writer.close()
    with pytest.raises(WriterClosed):
        await writer.write_bulk_many(_BulkAdd(), ["3001"])


class _Recorder:
    def __init__(self, name: str, order: list[str], first: bool = False) -> None:
        self.name, self.order, self.first = name, order, first

    def run_bulk(self, connection, items: list[int]) -> list[None]:
        self.order.append(self.name)
        return [None] * len(items)


async def test_a_bulk_kind_marked_first_runs_before_the_others_of_its_batch(engine):
    writer = Writer(engine)
    order: list[str] = []
    later, first = _Recorder("later", order), _Recorder("first", order, first=True)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            async with trio.open_nursery() as requests:
                requests.start_soon(writer.write_bulk, later, 1)
                requests.start_soon(writer.write_bulk, first, 2)
            writer.close()
    assert order == ["first", "later"] and writer.batches == 1


async def test_subscribers_are_called_once_a_notifying_transaction_committed(engine):
    writer = Writer(engine)
    calls: list[bool] = []

    def notifying(msisdn: str):
        def operation(connection):
            notify_after_commit(connection, "added")
            _add(msisdn)(connection)
            # Not called before the commit: the row is not visible to others yet.
            calls.append(False)

        return operation

    def subscriber() -> None:
        calls.append(_committed(engine, "32470000001"))

    writer.on_commit("added", subscriber)
    writer.on_commit("other", lambda: calls.append(None))
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            await writer.write(notifying("32470000001"))
            assert calls == [False, True]
            with pytest.raises(IntegrityError):
                await writer.write(notifying("32470000001"))  # a duplicate: rolled back
            await writer.write(_add("32470000002"))
            assert calls == [False, True], "a failed transaction notifies nothing"
            writer.close()


async def test_the_daemons_own_writes_ride_along_with_the_next_urgent_one(engine):
    writer = Writer(engine, defer_s=30)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            nursery.start_soon(partial(writer.write, _add("32470000001"), urgent=False))
            nursery.start_soon(partial(writer.write, _add("32470000002"), urgent=False))
            await trio.testing.wait_all_tasks_blocked()
            assert writer.batches == 0, "nothing urgent yet: the own writes wait"
            await writer.write(_add("32470000003"))
            writer.close()
    assert writer.batches == 1, "one commit for the urgent write and the two that waited"
    assert all(_committed(engine, f"3247000000{n}") for n in (1, 2, 3))


async def test_a_write_that_is_not_urgent_waits_at_most_defer_s(engine):
    writer = Writer(engine, defer_s=0.05)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        with trio.fail_after(5):
            assert await writer.write(_add("32470000001"), urgent=False) == "32470000001"
        writer.close()
    assert writer.batches == 1


async def test_an_idle_writer_commits_at_once_and_writes_soon_after_share_the_next_tick(engine):
    writer = Writer(engine, commit_interval_s=30)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            await writer.write(_add("32470000001"))
            assert writer.batches == 1, "the first write after a quiet spell does not wait"
            nursery.start_soon(writer.write, _add("32470000002"))
            nursery.start_soon(writer.write, _add("32470000003"))
            await trio.testing.wait_all_tasks_blocked()
            assert writer.batches == 1, "within the interval, urgent writes wait for the tick"
            writer.close()
    assert writer.batches == 2, "closing starts the waiting tick at once"
    assert all(_committed(engine, f"3247000000{n}") for n in (1, 2, 3))


async def test_a_full_batch_does_not_wait_for_the_commit_interval(engine):
    writer = Writer(engine, max_batch=2, commit_interval_s=30)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            await writer.write(_add("32470000001"))
            async with trio.open_nursery() as both:
                both.start_soon(writer.write, _add("32470000002"))
                both.start_soon(writer.write, _add("32470000003"))
            assert writer.batches == 2
            writer.close()


async def test_a_caller_writing_one_request_after_another_is_not_held_by_the_interval(engine):
    writer = Writer(engine, commit_interval_s=30)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            for n in range(1, 6):
                await writer.write(_add(f"3247000000{n}"))
            assert writer.batches == 5, "each write committed at once, not 30 s after the last"
            writer.close()
