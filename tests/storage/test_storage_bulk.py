"""Bulk writes take rows of any mix of shapes; status jobs of one message wait their turn."""

import threading
import time
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import insert, select, text

from gatewayd.storage import messages as store
from gatewayd.storage import migrate
from gatewayd.storage import outbox as outbox_store
from gatewayd.storage.tables import outbox

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _job(channel: str, message_id: str | None, **extra) -> dict:
    row = {
        "channel": channel,
        "application": "shop",
        "kind": "status",
        "message_id": message_id,
        "record": {"MessageId": message_id},
        "state": "pending",
        "time_created": NOW,
        "next_attempt_at": NOW,
    }
    return {**row, **extra}


def _jobs(connection) -> list:
    return list(connection.execute(select(outbox).order_by(outbox.c.id)))


def test_webhook_and_smpp_jobs_are_stored_in_one_batch(engine):
    webhook = _job("webhook", "m1", url="http://127.0.0.1:1/hook", method="POST", format="JSON")
    smpp = _job("smpp", "m2")  # no url, method or format, no attempts: column defaults
    with engine.begin() as connection:
        store.add_events(connection, [], [smpp, webhook, _job("smpp", None)])
        rows = _jobs(connection)
    assert [(r.channel, r.url, r.attempts) for r in rows] == [
        ("smpp", None, 0),
        ("webhook", "http://127.0.0.1:1/hook", 0),
        ("smpp", None, 0),
    ]


def test_a_status_job_waits_for_the_earlier_one_of_its_message(engine):
    with engine.begin() as connection:
        store.add_events(connection, [], [_job("webhook", "m1", url="u"), _job("smpp", "m1")])
        store.add_events(
            connection, [], [_job("webhook", "m1", url="u"), _job("webhook", "m2", url="u")]
        )
        first, smpp, second, other = _jobs(connection)
        assert second.next_attempt_at is None, "m1's first webhook is pending"
        assert smpp.next_attempt_at == NOW and other.next_attempt_at == NOW, "other chains"
        outbox_store.record_outcomes(
            connection, [], [outbox_store.again_later(first.id, NOW, 1, "503")]
        )
        assert _jobs(connection)[2].next_attempt_at is None, "still waiting for a retry"
        outbox_store.record_outcomes(
            connection, [outbox_store.finished(first.id, "delivered", NOW, 2, None)], []
        )
        assert _jobs(connection)[2].next_attempt_at == NOW, "its turn now"


def _wait_until_blocked(engine, timeout_s: float = 3) -> None:
    """Until another connection waits for a row lock, or (when nothing makes it wait)
    `timeout_s` has passed."""
    deadline = time.monotonic() + timeout_s
    query = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if connection.execute(query).scalar_one():
                return
        time.sleep(0.01)


def _in_thread(work) -> threading.Thread:
    thread = threading.Thread(target=work)
    thread.start()
    return thread


# On PostgreSQL only: SQLite has one writer, so the two transactions cannot overlap there.
@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
@pytest.mark.parametrize("first", ["end", "add"])
def test_a_job_added_while_its_predecessor_ends_on_another_node_is_never_stranded(engine, first):
    """Two nodes at once: one ends a message's pending job, the other adds its next one.
    Whichever commits first, the new job is due afterwards."""
    with engine.begin() as connection:
        store.add_events(connection, [], [_job("webhook", "m1", url="u")])
        (head,) = _jobs(connection)
    done = outbox_store.finished(head.id, "delivered", NOW, 1, None)

    def end(connection) -> None:
        outbox_store.record_outcomes(connection, [done], [])

    def add(connection) -> None:
        store.add_events(connection, [], [_job("webhook", "m1", url="u")])

    holder, waiter = (end, add) if first == "end" else (add, end)
    with engine.connect() as connection:
        transaction = connection.begin()
        holder(connection)

        def other() -> None:
            with engine.begin() as second:
                waiter(second)

        thread = _in_thread(other)
        _wait_until_blocked(engine)
        transaction.commit()
        thread.join(timeout=10)
    with engine.connect() as connection:
        ended, added = _jobs(connection)
    assert ended.state == "delivered"
    assert added.state == "pending" and added.next_attempt_at is not None, "not stranded"


def test_the_upgrade_names_the_message_of_pending_status_jobs(engine):
    """Jobs queued before the upgrade keep their place: the next status of their message
    waits for them."""
    config = migrate._alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")  # the revision before status jobs named their message
    old = {k: v for k, v in _job("webhook", None, url="u").items() if k != "message_id"}
    with engine.begin() as connection:
        connection.execute(insert(outbox), [{**old, "record": {"MessageId": "m1"}}])
    migrate.upgrade(engine)
    with engine.begin() as connection:
        store.add_events(connection, [], [_job("webhook", "m1", url="u")])
        legacy, new = _jobs(connection)
    assert legacy.message_id == "m1" and new.next_attempt_at is None
