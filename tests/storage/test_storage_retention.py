"""Retention on both databases with a fake clock: old rows go in bounded chunks, recent rows and
everything still in flight stay."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import trio
import trio.testing
from sqlalchemy import insert, select

from gatewayd.config.holder import ConfigHolder
from gatewayd.config.loader import load_config
from gatewayd.config.schema import Config, RetentionConfig
from gatewayd.core.clock import Clock
from gatewayd.core.retention import Retention
from gatewayd.core.statuses import Status
from gatewayd.storage.tables import (
    incoming_messages,
    message_parts,
    messages,
    outbox,
    poll_queue,
    receipts,
    request_logs,
    webhook_attempts,
)
from gatewayd.storage.writer import Writer

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OLD_FINAL_MESSAGES = 7
BATCH = 3


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def message(message_id: str, status: Status, created: datetime, done: datetime | None) -> dict:
    return {
        "id": message_id,
        "account": "acme",
        "application": "shop",
        "sandbox": False,
        "recipient": "32470000001",
        "body": "hello",
        "encoding": "TEXT",
        "number_of_parts": 2,
        "number_of_chars": 5,
        "concat_ref": 1,
        "replace_if_present": False,
        "status": int(status),
        "status_description": status.description,
        "front_door": "http",
        "time_created": created,
        "time_done": done,
        "validity_until": created + timedelta(days=3),
        "attempts": 0,
    }


def part(message_id: str, part_no: int, submitted: datetime) -> dict:
    key = f"{message_id}-{part_no}"
    return {
        "message_id": message_id,
        "part_no": part_no,
        "carrier": "sim",
        "carrier_message_id": key,
        "carrier_id_key": key,
        "state": "submitted",
        "time_submitted": submitted,
    }


def receipt(key: str, received: datetime, matched: datetime | None) -> dict:
    return {
        "carrier": "sim",
        "carrier_message_id": key,
        "carrier_id_key": key,
        "state": "delivered",
        "time_received": received,
        "time_matched": matched,
    }


def job(state: str, created: datetime, done: datetime | None) -> dict:
    return {
        "channel": "webhook",
        "application": "shop",
        "kind": "status",
        "url": "http://127.0.0.1:9/hook",
        "record": {"MessageId": "x"},
        "state": state,
        "attempts": 1,
        "time_created": created,
        "time_done": done,
    }


def poll(created: datetime, fetched: datetime | None) -> dict:
    return {
        "application": "shop",
        "kind": "status",
        "sandbox": False,
        "record": {"MessageId": "x"},
        "time_created": created,
        "time_fetched": fetched,
    }


def request_log(created: datetime) -> dict:
    return {
        "account": "acme",
        "application": "shop",
        "time_created": created,
        "client_ip": "127.0.0.1",
        "method": "POST",
        "path": "/sms/v1/Message",
        "status_code": 200,
        "request_body": "{}",
        "response_body": "{}",
        "duration_ms": 1,
    }


def incoming(incoming_id: str, received: datetime) -> dict:
    return {
        "id": incoming_id,
        "sender": "32470000001",
        "recipient": "8686",
        "body": "hi",
        "time_received": received,
    }


def fill(engine) -> dict[str, set]:
    """Rows of every kind; what must stay, by table."""
    old_final = [f"old-final-{n}" for n in range(OLD_FINAL_MESSAGES)]
    rows_of_messages = [message(i, Status.DELIVERED, days_ago(40), days_ago(31)) for i in old_final]
    rows_of_messages += [
        message("old-submitted", Status.SUBMITTED, days_ago(40), None),
        message("old-queued", Status.QUEUED, days_ago(40), None),
        message("old-scheduled", Status.SCHEDULED, days_ago(40), None),
        message("recent-final", Status.UNDELIVERABLE, days_ago(40), days_ago(29)),
    ]
    with engine.begin() as connection:
        connection.execute(insert(messages), rows_of_messages)
        connection.execute(
            insert(message_parts),
            [part(row["id"], n, days_ago(40)) for row in rows_of_messages for n in (1, 2)],
        )
        connection.execute(
            insert(receipts),
            [
                receipt("matched-old", days_ago(31), days_ago(31)),
                receipt("matched-recent", days_ago(40), days_ago(29)),
                receipt("unmatched-old", days_ago(4), None),
                receipt("unmatched-recent", days_ago(2), None),
            ],
        )
        connection.execute(
            insert(incoming_messages),
            [incoming("in-old", days_ago(31)), incoming("in-recent", days_ago(29))],
        )
        connection.execute(
            insert(poll_queue),
            [
                poll(days_ago(3), days_ago(2)),
                poll(days_ago(3), days_ago(0.5)),
                poll(days_ago(31), None),
                poll(days_ago(29), None),
            ],
        )
        jobs = connection.execute(
            insert(outbox).returning(outbox.c.id, outbox.c.state, outbox.c.time_done),
            [
                job("delivered", days_ago(9), days_ago(8)),
                job("failed", days_ago(9), days_ago(8)),
                job("pending", days_ago(40), None),
                job("delivered", days_ago(9), days_ago(6)),
            ],
        ).all()
        connection.execute(
            insert(webhook_attempts),
            [
                {"outbox_id": row.id, "time_attempted": days_ago(9), "duration_ms": 1}
                for row in jobs
            ],
        )
        connection.execute(insert(request_logs), [request_log(days_ago(8)), request_log(NOW)])
    kept_jobs = {row.id for row in jobs if row.time_done is None or row.time_done > days_ago(7)}
    return {
        "messages": {"old-submitted", "old-queued", "old-scheduled", "recent-final"},
        "receipts": {"matched-recent", "unmatched-recent"},
        "incoming_messages": {"in-recent"},
        "outbox": kept_jobs,
        "webhook_attempts": kept_jobs,
    }


def read(engine) -> dict[str, set]:
    with engine.connect() as connection:
        return {
            "messages": set(connection.execute(select(messages.c.id)).scalars()),
            "parts": set(connection.execute(select(message_parts.c.message_id)).scalars()),
            "receipts": set(connection.execute(select(receipts.c.carrier_message_id)).scalars()),
            "incoming_messages": set(connection.execute(select(incoming_messages.c.id)).scalars()),
            "poll": set(
                connection.execute(select(poll_queue.c.time_created, poll_queue.c.time_fetched))
            ),
            "outbox": set(connection.execute(select(outbox.c.id)).scalars()),
            "webhook_attempts": set(
                connection.execute(select(webhook_attempts.c.outbox_id)).scalars()
            ),
            "request_logs": set(connection.execute(select(request_logs.c.time_created)).scalars()),
        }


async def test_old_records_go_in_bounded_chunks_and_recent_and_in_flight_ones_stay(engine, nursery):
    must_stay = fill(engine)
    writer = Writer(engine)
    await nursery.start(writer.run)
    clock = Clock()
    clock.set(NOW)
    holder = ConfigHolder(Path("unused.yaml"), Config(retention=RetentionConfig(batch=BATCH)))
    chunks: list[tuple[str, int]] = []
    retention = Retention(holder, writer, engine, clock, lambda t, n: chunks.append((t, n)))

    deleted = await retention.sweep()

    left = read(engine)
    for table, ids in must_stay.items():
        assert left[table] == ids, table
    assert left["parts"] == must_stay["messages"], "parts go with their message, and only then"
    assert left["poll"] == {(days_ago(3), days_ago(0.5)), (days_ago(29), None)}
    assert left["request_logs"] == {NOW}
    assert deleted["messages"] == OLD_FINAL_MESSAGES
    assert deleted["message_parts"] == 2 * OLD_FINAL_MESSAGES
    assert max(rows for table, rows in chunks if table == "messages") <= BATCH
    assert max(rows for table, rows in chunks if table == "message_parts") <= 2 * BATCH
    assert len([t for t, rows in chunks if t == "messages" and rows]) == -(
        -OLD_FINAL_MESSAGES // BATCH
    )
    assert sum((await retention.sweep()).values()) == 0, "nothing more to delete"

    await retention.measure()
    assert retention.database_bytes > 0
    with engine.connect() as connection:
        # PostgreSQL gives its estimate only once the table has been analyzed.
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("ANALYZE messages")
    await retention.measure()
    assert retention.table_rows["messages"] == len(must_stay["messages"])
    assert retention.table_rows["outbox"] == len(must_stay["outbox"])


async def test_a_kind_set_to_null_is_kept_for_good(engine, nursery):
    fill(engine)
    writer = Writer(engine)
    await nursery.start(writer.run)
    clock = Clock()
    clock.set(NOW)
    keep = RetentionConfig(messages_days=None, request_logs_days=None)
    holder = ConfigHolder(Path("unused.yaml"), Config(retention=keep))
    deleted = await Retention(holder, writer, engine, clock).sweep()
    assert "messages" not in deleted and "request_logs" not in deleted
    assert deleted["outbox"] == 2
    assert len(read(engine)["messages"]) == OLD_FINAL_MESSAGES + 4


async def test_the_daemon_sweeps_and_shows_table_sizes_and_deleted_rows(gateway_factory):
    gateway = await gateway_factory(extra="retention: {messages_days: 1}")
    runtime = gateway.runtime
    answer = await gateway.send(to="32470000001", message="kept a day")
    message_id = answer["Messages"][0]["MessageId"]

    async def delivered() -> bool:
        return (await gateway.status_of(message_id))["StatusCode"] == Status.DELIVERED.code

    await gateway.wait_until(delivered)
    runtime.clock.advance(timedelta(days=1, minutes=1))
    assert (await runtime.retention.sweep())["messages"] == 1
    await runtime.retention.measure()
    metrics = (await gateway.admin.get("/metrics")).text
    assert 'gatewayd_retention_deleted_rows_total{table="messages"} 1.0' in metrics
    assert 'gatewayd_table_rows{table="messages"}' in metrics
    assert "gatewayd_database_bytes " in metrics


async def test_a_new_interval_after_a_reload_takes_effect_at_once(
    engine, nursery, tmp_path, mock_clock
):
    """retention.every_s shortened by SIGHUP: the next sweep follows the new interval, not
    the end of the old interval's sleep."""
    config_file = tmp_path / "gatewayd.yaml"
    config_file.write_text("retention: {every_s: 3600}\n")
    holder = ConfigHolder(config_file, load_config(config_file))
    writer = Writer(engine)
    await nursery.start(writer.run)
    retention = Retention(holder, writer, engine, Clock())
    sweeps: list[float] = []
    measured = trio.Semaphore(0)
    sweep, measure = retention.sweep, retention.measure

    async def counted_sweep():
        sweeps.append(trio.current_time())
        return await sweep()

    async def counted_measure():
        await measure()
        measured.release()

    retention.sweep, retention.measure = counted_sweep, counted_measure
    await nursery.start(retention.run)
    await measured.acquire()
    await trio.testing.wait_all_tasks_blocked()
    config_file.write_text("retention: {every_s: 60}\n")
    assert await holder.reload()
    mock_clock.jump(61)
    await trio.testing.wait_all_tasks_blocked()
    assert sweeps == [0.0, 61.0], "swept 60 s after the first sweep, not 3600 s"
    await measured.acquire()
    mock_clock.jump(60)
    await trio.testing.wait_all_tasks_blocked()
    assert sweeps == [0.0, 61.0, 121.0]
