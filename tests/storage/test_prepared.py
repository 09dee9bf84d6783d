"""Prepared statements on the DB-API cursor: the values SQLAlchemy would store and return,
IN lists of any length, and driver errors raised as SQLAlchemy raises them."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from gatewayd.config.schema import DatabaseConfig
from gatewayd.storage.engine import open_engine
from gatewayd.storage.prepared import Prepared
from gatewayd.storage.tables import outbox

NOW = datetime(2026, 12, 7, 12, 0, 0, 123456, tzinfo=UTC)

BY_IDS = Prepared(
    select(outbox.c.id, outbox.c.record, outbox.c.next_attempt_at, outbox.c.state)
    .where(outbox.c.id.in_(bindparam("ids", expanding=True)), outbox.c.state == "pending")
    .order_by(outbox.c.id)
)
POSTPONE = Prepared(
    update(outbox)
    .where(outbox.c.id.in_(bindparam("ids", expanding=True)))
    .values(next_attempt_at=bindparam("at"))
)
RENAME = Prepared(
    update(outbox).where(outbox.c.id == bindparam("job")).values(channel=bindparam("channel"))
)


def _job(n: int, state: str = "pending") -> dict:
    return {
        "channel": "webhook",
        "application": "shop",
        "kind": "status",
        "record": {"n": n, "text": "é"},
        "state": state,
        "attempts": 0,
        "time_created": NOW,
        "next_attempt_at": NOW,
    }


def test_values_round_trip_as_sqlalchemy_reads_them(engine):
    with engine.begin() as connection:
        connection.execute(insert(outbox), [_job(n) for n in range(3)] + [_job(9, "done")])
        ids = connection.execute(select(outbox.c.id).order_by(outbox.c.id)).scalars().all()
        rows = BY_IDS.rows(connection, ids=ids)
        expected = connection.execute(
            select(outbox.c.id, outbox.c.record, outbox.c.next_attempt_at, outbox.c.state)
            .where(outbox.c.id.in_(ids), outbox.c.state == "pending")
            .order_by(outbox.c.id)
        ).all()
    assert [tuple(row) for row in rows] == [tuple(row) for row in expected]
    assert len(rows) == 3
    assert rows[0].record == {"n": 0, "text": "é"}
    assert rows[0].next_attempt_at == NOW and rows[0].next_attempt_at.tzinfo is not None
    assert rows[0]._mapping["state"] == "pending"


def test_in_lists_of_other_lengths_reuse_the_statement_and_bind_datetimes(engine):
    later = NOW + timedelta(minutes=5)
    with engine.begin() as connection:
        connection.execute(insert(outbox), [_job(n) for n in range(5)])
        ids = connection.execute(select(outbox.c.id).order_by(outbox.c.id)).scalars().all()
        assert POSTPONE.run(connection, ids=ids[:1], at=later) == 1
        assert POSTPONE.run(connection, ids=ids[2:], at=later) == 3
        postponed = connection.execute(
            select(outbox.c.id).where(outbox.c.next_attempt_at == later)
        ).scalars()
        assert sorted(postponed) == [ids[0], *ids[2:]]
        with pytest.raises(ValueError, match="empty list"):
            POSTPONE.run(connection, ids=[], at=later)


def test_a_driver_error_is_raised_as_sqlalchemy_raises_it(engine):
    with engine.begin() as connection:
        job = connection.execute(insert(outbox).returning(outbox.c.id), [_job(1)]).scalar_one()
        with pytest.raises(IntegrityError):
            RENAME.run(connection, job=job, channel=None)


@pytest.mark.postgres
def test_a_lost_connection_is_invalidated_and_said_so(postgres_url):
    engine = open_engine(DatabaseConfig(url=postgres_url))
    try:
        with engine.connect() as connection:
            connection.begin()
            pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
            with engine.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            with pytest.raises(DBAPIError) as raised:
                BY_IDS.rows(connection, ids=[1])
            assert raised.value.connection_invalidated
            assert connection.invalidated
    finally:
        engine.dispose()


NOT_LISTED = Prepared(
    select(outbox.c.id)
    .where(outbox.c.id.not_in(bindparam("ids", expanding=True)))
    .order_by(outbox.c.id)
)


def test_on_postgresql_an_in_list_of_any_length_is_one_statement_planned_once(postgres_url):
    engine = open_engine(DatabaseConfig(url=postgres_url))
    try:
        with engine.begin() as connection:
            connection.execute(insert(outbox), [_job(n) for n in range(8)])
            ids = connection.execute(select(outbox.c.id).order_by(outbox.c.id)).scalars().all()
            found = [len(BY_IDS.rows(connection, ids=ids[:length])) for length in range(1, 9)]
            assert NOT_LISTED.rows(connection, ids=ids[2:]) == [(ids[0],), (ids[1],)]
            prepared = connection.execute(
                text("SELECT statement FROM pg_prepared_statements WHERE statement LIKE '%ANY(%'")
            ).scalars()
            prepared = list(prepared)
    finally:
        engine.dispose()
    assert found == list(range(1, 9))
    assert len(prepared) == 1, "eight list lengths, one statement prepared by psycopg"
