"""Status records derived from the message row: a poll record or a webhook job stores what
its status change changed, and hands out the record the message had then, read from the
message row; once retention has deleted the message there is nothing left to hand out."""

import textwrap
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from gatewayd.config.loader import parse_config
from gatewayd.core.api_times import format_api_time
from gatewayd.core.directory import Directory
from gatewayd.core.events import MESSAGE_GONE, carried_record, claimed_with_records
from gatewayd.core.lifecycle import Transitions
from gatewayd.core.records import status_record
from gatewayd.core.statuses import Status
from gatewayd.storage import bulk, retention
from gatewayd.storage import messages as message_store
from gatewayd.storage import outbox as outbox_store
from gatewayd.storage.tables import messages, outbox, poll_queue
from tests.rows import message_row

ACCEPTED = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SUBMITTED = ACCEPTED + timedelta(seconds=1)
DELIVERED = ACCEPTED + timedelta(seconds=30)
CONFIG = """
    carriers: [{name: sim, simulator: {}}]
    accounts:
      - name: acme
        applications:
          - name: shop
            api_keys: [shop-key-0123456789]
            time_zone: America/New_York
            webhooks: {status: {url: "http://127.0.0.1:9/status"}}
"""


def _directory() -> Directory:
    return Directory(parse_config(textwrap.dedent(CONFIG), environ={}))


def _submitted_then_delivered(connection, directory: Directory) -> None:
    row = message_row("m1", ACCEPTED, reference="order-7", next_attempt_at=ACCEPTED)
    bulk.insert_rows(connection, messages, [row])
    submitted = Transitions(directory, SUBMITTED)
    submitted.ask("m1", Status.SUBMITTED, carrier="sim")
    submitted.apply(connection)
    delivered = Transitions(directory, DELIVERED)
    delivered.ask("m1", Status.DELIVERED, carrier="sim", submitted=True)
    delivered.apply(connection)


def _polled(connection, directory: Directory) -> list[dict | None]:
    rows, remaining = message_store.fetch_poll(connection, "shop", "status", False, 10, DELIVERED)
    assert remaining == 0
    stored = message_store.messages_by_id(connection, [row.message_id for row in rows])
    return [carried_record(row, stored, directory) for row in rows]


def test_each_record_is_the_message_as_it_was_at_its_status(engine):
    directory = _directory()
    zone = directory.by_name["shop"].config.time_zone
    with engine.begin() as connection:
        _submitted_then_delivered(connection, directory)
        stored_records = [
            *connection.execute(select(poll_queue.c.record)).scalars(),
            *connection.execute(select(outbox.c.record)).scalars(),
        ]
        records = _polled(connection, directory)
        message = connection.execute(select(messages)).one()._mapping
        jobs = outbox_store.claim_jobs(
            connection, "webhook", "node-a", DELIVERED, timedelta(minutes=1), 10
        )
        claimed = claimed_with_records(connection, jobs, directory, DELIVERED)

    assert stored_records == [None] * 4, "two poll records and two jobs, no JSON stored"
    submitted, delivered = records
    assert delivered == status_record(message, zone), "as StatusMessage answers it"
    assert delivered["DeliveryTime"] == format_api_time(DELIVERED, zone)
    assert submitted == delivered | {
        "StatusCode": Status.SUBMITTED.code,
        "StatusDescription": Status.SUBMITTED.description,
        "DeliveryTime": None,
    }
    assert submitted["TimeSubmitted"] == format_api_time(SUBMITTED, zone)
    assert submitted["Reference"] == "order-7" and submitted["MessageId"] == "m1"
    assert [job.record for job in claimed] == [submitted], "the Delivered job waits its turn"


def test_a_record_whose_message_retention_deleted_is_not_handed_out(engine):
    directory = _directory()
    with engine.begin() as connection:
        _submitted_then_delivered(connection, directory)
        kind = next(kind for kind in retention.KINDS if kind.name == "messages")
        retention.delete_chunk(connection, kind, DELIVERED + timedelta(days=1), 100)
        records = _polled(connection, directory)
        jobs = outbox_store.claim_jobs(
            connection, "webhook", "node-a", DELIVERED, timedelta(minutes=1), 10
        )
        claimed = claimed_with_records(connection, jobs, directory, DELIVERED)
        ended = connection.execute(
            select(outbox.c.state, outbox.c.last_error).order_by(outbox.c.id)
        ).all()

    assert records == [None, None]
    assert claimed == []
    assert ended[0] == ("failed", MESSAGE_GONE), "failed for good, not retried"
