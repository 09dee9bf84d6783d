"""The raw executemany of storage/bulk.py stores exactly what SQLAlchemy Core stores."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Connection, Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from gatewayd.storage import bulk
from gatewayd.storage import messages as store
from gatewayd.storage.tables import message_parts, messages, outbox, poll_queue

BRUSSELS = timezone(timedelta(hours=1))
WHOLE_SECOND = datetime(2026, 12, 2, 9, 30, tzinfo=BRUSSELS)
PRECISE = datetime(2026, 12, 2, 8, 30, 15, 123456, tzinfo=UTC)


def _message(message_id: str) -> dict:
    """A message with NULLs, a local-time datetime and the columns with defaults left out."""
    return {
        "id": message_id,
        "account": "acme",
        "application": "shop",
        "reference": "ré\tf\n'%s\\",
        "recipient": "32470000001",
        "sender": None,
        "body": "Unicode body: é ✓ 😀",
        "encoding": "UNICODE",
        "number_of_parts": 2,
        "number_of_chars": 21,
        "concat_ref": 255,
        "status": 1,
        "status_description": "Queued",
        "time_created": PRECISE,
        "time_scheduled": WHOLE_SECOND,
        "validity_until": WHOLE_SECOND + timedelta(days=2),
        "next_attempt_at": PRECISE,
    }


def _outbox(message_id: str) -> dict:
    return {
        "channel": "webhook",
        "application": "shop",
        "kind": "status",
        "message_id": message_id,
        "url": None,
        "record": {"MessageId": "m1", "Nested": {"list": [1, 2.5, None, True]}, "é": "✓"},
        "state": "pending",
        "time_created": WHOLE_SECOND,
        "next_attempt_at": None,
    }


def _poll(application: str) -> dict:
    return {
        "application": application,
        "kind": "status",
        "sandbox": True,
        "record": {"MessageId": "m1", "Empty": [], "Text": 'a"b'},
        "time_created": PRECISE,
    }


def _part(message_id: str) -> dict:
    return {
        "message_id": message_id,
        "part_no": 2,
        "carrier": "sim",
        "carrier_message_id": "0A1b",
        "carrier_id_key": "a1b",
        "state": "submitted",
        "time_submitted": WHOLE_SECOND,
    }


def _stored(connection: Connection, table: Table, column: str, value: str) -> tuple[list, list]:
    """The row as SQLAlchemy reads it and as the database holds it (the driver's values)."""
    query = select(table).where(table.c[column] == value)
    through_sqlalchemy = list(connection.execute(query).one())
    sql = str(query.compile(connection, compile_kwargs={"literal_binds": True}))
    as_stored = list(connection.exec_driver_sql(sql).one())
    return through_sqlalchemy, as_stored


def _without(row: list, table: Table, *names: str) -> list:
    keys = [column.key for column in table.columns]
    return [value for key, value in zip(keys, row, strict=True) if key not in names]


@pytest.mark.parametrize("count", [1, bulk.COPY_FROM_ROWS], ids=["executemany", "copy"])
@pytest.mark.parametrize(
    ("table", "make", "key", "generated"),
    [
        (messages, _message, "id", ("id",)),
        (outbox, _outbox, "message_id", ("id", "message_id")),
        (poll_queue, _poll, "application", ("id", "application")),
        (message_parts, _part, "message_id", ("message_id",)),
    ],
)
def test_raw_inserts_read_back_as_core_inserts(engine, table, make, key, generated, count):
    raw_keys = [f"m-raw-{n}" for n in range(count)]
    with engine.begin() as connection:
        if table is message_parts:
            bulk.insert_rows(connection, messages, [_message(k) for k in ["m-core", *raw_keys]])
        connection.execute(insert(table), [make("m-core")])
        bulk.insert_rows(connection, table, [make(k) for k in raw_keys])
        core_read, core_stored = _stored(connection, table, key, "m-core")
        for raw_key in raw_keys:
            raw_read, raw_stored = _stored(connection, table, key, raw_key)
            assert _without(raw_read, table, *generated) == _without(core_read, table, *generated)
            assert _without(raw_stored, table, *generated) == _without(
                core_stored, table, *generated
            )
    assert None in raw_read, "NULLs stay NULL"


@pytest.mark.parametrize("count", [1, bulk.COPY_FROM_ROWS], ids=["executemany", "copy"])
def test_a_refused_raw_insert_raises_sqlalchemys_error(engine, count):
    rows = [_message(f"m-{n}") for n in range(count)] + [_message("m-0")]
    with pytest.raises(IntegrityError), engine.begin() as connection:
        bulk.insert_rows(connection, messages, rows)
    with engine.connect() as connection:
        assert connection.execute(select(messages.c.id)).all() == []


def test_a_raw_insert_stores_the_same_text_and_defaults_as_core(engine):
    with engine.begin() as connection:
        connection.execute(insert(messages), [_message("m-core")])
        bulk.insert_rows(connection, messages, [_message("m-raw")])
        _, core_stored = _stored(connection, messages, "id", "m-core")
        raw_read, raw_stored = _stored(connection, messages, "id", "m-raw")
    assert raw_stored[1:] == core_stored[1:]
    row = dict(zip([c.key for c in messages.columns], raw_read, strict=True))
    assert row["time_created"] == PRECISE and row["time_created"].tzinfo == UTC
    assert row["time_scheduled"] == WHOLE_SECOND.astimezone(UTC)
    assert (row["sandbox"], row["attempts"], row["front_door"]) == (False, 0, "http")


def test_raw_updates_read_back_as_core_updates(engine):
    final_update = (
        update(messages)
        .where(messages.c.id == bindparam("message_id"))
        .values(
            status=bindparam("status"),
            status_description=bindparam("status_description"),
            time_done=bindparam("time_done"),
            time_submitted=bindparam("time_submitted"),
        )
    )
    part_update = store._PART_STATE_UPDATE
    done = datetime(2026, 12, 2, 10, 0, 0, 1, tzinfo=BRUSSELS)
    with engine.begin() as connection:
        bulk.insert_rows(connection, messages, [_message("m-core"), _message("m-raw")])
        bulk.insert_rows(connection, message_parts, [_part("m-core"), _part("m-raw")])
        final = {"status": 3, "status_description": "Failed", "time_done": done}
        final["time_submitted"] = None
        connection.execute(final_update, [{"message_id": "m-core", **final}])
        bulk.update_rows(connection, final_update, [{"message_id": "m-raw", **final}])
        state = {"b_part_no": 2, "state": "failed", "error": None, "time_done": done}
        connection.execute(part_update, [{"b_message_id": "m-core", **state}])
        bulk.update_rows(connection, part_update, [{"b_message_id": "m-raw", **state}])
        by_id = update(outbox).where(outbox.c.id == bindparam("job_id"))
        bulk.insert_rows(connection, outbox, [_outbox("m-core"), _outbox("m-raw")])
        core_job, raw_job = connection.execute(select(outbox.c.id).order_by(outbox.c.id)).scalars()
        outcome = {"state": "failed", "attempts": 3, "last_error": None, "time_done": done}
        connection.execute(by_id, [{"job_id": core_job, **outcome}])
        bulk.update_rows(connection, by_id, [{"job_id": raw_job, **outcome}])
        compared = [
            (messages, "id", ("id",)),
            (message_parts, "message_id", ("message_id",)),
            (outbox, "message_id", ("id", "message_id")),
        ]
        for table, key, generated in compared:
            core_read, core_stored = _stored(connection, table, key, "m-core")
            raw_read, raw_stored = _stored(connection, table, key, "m-raw")
            assert _without(raw_read, table, *generated) == _without(core_read, table, *generated)
            assert _without(raw_stored, table, *generated) == _without(
                core_stored, table, *generated
            )
        assert connection.execute(
            select(messages.c.time_done).where(messages.c.id == "m-raw")
        ).scalar_one() == done.astimezone(UTC)


def test_a_naive_datetime_is_refused_and_nothing_is_stored(engine):
    row = {**_message("m-naive"), "time_created": datetime(2026, 12, 2, 8, 0)}
    with engine.begin() as connection:
        with pytest.raises(ValueError, match="naive datetime"):
            bulk.insert_rows(connection, messages, [row])
        assert connection.execute(select(messages.c.id)).all() == []
