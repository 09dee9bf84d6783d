"""The lifecycle table and its batches, on a real database: a transition the table does not
allow changes nothing, a mix of transitions is one statement per kind, and only what changed
leaves a poll record, a webhook job and a status to count."""

import textwrap
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from gatewayd.config.loader import parse_config
from gatewayd.core.directory import Directory
from gatewayd.core.lifecycle import NEW, NEXT, SOURCES, Transitions, accepted_status, may_follow
from gatewayd.core.statuses import Status
from gatewayd.storage import bulk, prepared
from gatewayd.storage.tables import messages, outbox, poll_queue
from tests.rows import message_row

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
CONFIG = """
    carriers: [{name: sim, simulator: {}}]
    accounts:
      - name: acme
        applications:
          - name: shop
            api_keys: [shop-key-0123456789]
            webhooks: {status: {url: "http://127.0.0.1:9/status"}}
"""


def _directory() -> Directory:
    return Directory(parse_config(textwrap.dedent(CONFIG), environ={}))


def _message(message_id: str, status: Status, **values) -> dict:
    waiting = status in (Status.QUEUED, Status.SCHEDULED)
    return message_row(
        message_id,
        NOW,
        status,
        time_created=NOW - timedelta(minutes=1),
        concat_ref=7,
        next_attempt_at=NOW if waiting else None,
        claimed_by="node-a" if status is Status.QUEUED else None,
        claimed_until=NOW + timedelta(minutes=1) if status is Status.QUEUED else None,
        **values,
    )


def test_final_statuses_are_never_left_and_new_ones_are_the_three_accepted():
    for status in Status:
        assert (NEXT[status] == frozenset()) is status.final
    assert {Status.SCHEDULED, Status.QUEUED, Status.DROPPED} == NEW
    assert accepted_status(scheduled=True, dropped=False) is Status.SCHEDULED
    assert accepted_status(scheduled=True, dropped=True) is Status.DROPPED
    assert not may_follow(Status.SUBMITTED, Status.CANCELLED)
    assert not may_follow(Status.SUBMITTED, Status.BLACKLISTED)
    assert may_follow(Status.QUEUED, Status.DELIVERED)  # a long message's early receipt
    for current in Status:
        for target in Status:
            assert may_follow(current, target) is (int(current) in SOURCES[target])


def test_a_batch_applies_what_the_table_allows_one_statement_per_kind(engine, monkeypatch):
    statements: list[str] = []
    real_execute = prepared.execute

    def counted(connection, sql, parameters, **kw):
        statements.append(sql.split()[0].upper() + " " + sql.split()[1])
        return real_execute(connection, sql, parameters, **kw)

    monkeypatch.setattr(prepared, "execute", counted)
    with engine.begin() as connection:
        bulk.insert_rows(
            connection,
            messages,
            [
                _message("q1", Status.QUEUED),
                _message("q2", Status.QUEUED),
                _message("q3", Status.QUEUED),
                _message("s1", Status.SUBMITTED, time_submitted=NOW, carrier="sim"),
                _message("d1", Status.DELIVERED, time_submitted=NOW, time_done=NOW),
                _message("sent", Status.QUEUED, time_submitted=NOW),
            ],
        )
        statements.clear()
        transitions = Transitions(_directory(), NOW)
        transitions.ask("q1", Status.SUBMITTED, carrier="sim")
        transitions.ask("q2", Status.SUBMITTED, carrier="sim")
        transitions.ask("q2", Status.DELIVERED, carrier="sim", submitted=True)
        transitions.ask("s1", Status.DELIVERED, carrier="sim", submitted=True)
        transitions.ask("d1", Status.CANCELLED)  # final: stays Delivered
        transitions.ask("s1", Status.CANCELLED)  # already submitted: not cancellable
        transitions.ask("sent", Status.CANCELLED)  # a part went out: not cancellable
        transitions.ask("q3", Status.REJECTED, "refused", carrier="sim", smpp_status=0x45)
        changed = transitions.apply(connection)
        stored = {row.id: row for row in connection.execute(select(messages)).all()}
        polled = connection.execute(
            select(poll_queue.c.message_id, poll_queue.c.status, poll_queue.c.record).order_by(
                poll_queue.c.id
            )
        ).all()
        jobs = connection.execute(select(outbox.c.message_id)).scalars().all()

    updates = [s for s in statements if s.startswith("UPDATE")]
    assert len(updates) == 4  # Submitted, Delivered, Cancelled, Rejected
    assert set(changed) == {"q1", "q2", "s1", "q3"}
    assert Status(stored["q1"].status) is Status.SUBMITTED
    assert stored["q1"].claimed_by is None and stored["q1"].next_attempt_at is None
    assert stored["q1"].time_submitted == NOW and stored["q1"].time_done is None
    assert Status(stored["q2"].status) is Status.DELIVERED and stored["q2"].time_done == NOW
    assert Status(stored["s1"].status) is Status.DELIVERED
    assert Status(stored["d1"].status) is Status.DELIVERED
    assert Status(stored["sent"].status) is Status.QUEUED
    assert stored["sent"].claimed_by == "node-a"  # its dispatch still holds it
    assert (stored["q3"].status, stored["q3"].smpp_status) == (Status.REJECTED, 0x45)
    assert stored["q3"].status_description == "refused" and stored["q3"].time_submitted is None
    reached = [(r.message_id, r.status) for r in transitions.reached]
    assert reached == [
        ("q1", Status.SUBMITTED),
        ("q2", Status.SUBMITTED),
        ("q2", Status.DELIVERED),
        ("s1", Status.DELIVERED),
        ("q3", Status.REJECTED),
    ]
    assert all(row.record is None for row in polled), "derived from the message when read"
    assert [(row.message_id, Status(row.status).code) for row in polled] == [
        ("q1", "100"),
        ("q2", "100"),
        ("q2", "200"),
        ("s1", "200"),
        ("q3", "302"),
    ]
    assert sorted(jobs) == ["q1", "q2", "q2", "q3", "s1"]


def test_submitted_for_a_message_a_receipt_ended_lets_its_claim_go(engine):
    with engine.begin() as connection:
        ended = _message("m", Status.QUEUED)
        bulk.insert_rows(connection, messages, [ended])
        first = Transitions(_directory(), NOW)
        first.ask("m", Status.UNDELIVERABLE, "receipt of part 1", carrier="sim", submitted=True)
        first.apply(connection)
        connection.execute(
            messages.update().values(claimed_by="node-a", claimed_until=NOW, next_attempt_at=NOW)
        )
        second = Transitions(_directory(), NOW)
        second.ask("m", Status.SUBMITTED, carrier="sim")
        assert second.apply(connection) == {}
        row = connection.execute(select(messages)).one()
    assert Status(row.status) is Status.UNDELIVERABLE
    assert (row.claimed_by, row.claimed_until, row.next_attempt_at) == (None, None, None)
    assert second.reached == []


def test_a_second_node_ending_the_same_message_changes_nothing(engine):
    with engine.begin() as connection:
        bulk.insert_rows(connection, messages, [_message("m", Status.SUBMITTED)])
    applied = []
    for _ in range(2):
        with engine.begin() as connection:
            transitions = Transitions(_directory(), NOW)
            transitions.ask("m", Status.UNKNOWN, "no receipt")
            applied.append(transitions.apply(connection))
    assert [bool(a) for a in applied] == [True, False]
    with engine.connect() as connection:
        assert len(connection.execute(select(poll_queue)).all()) == 1
