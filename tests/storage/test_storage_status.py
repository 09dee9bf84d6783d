"""The status page's reads of the queues, on both databases: what each row counts as."""

from datetime import UTC, datetime, timedelta

from gatewayd.core.statuses import Status
from gatewayd.storage import status as store
from gatewayd.storage.messages import insert_messages, store_receipts
from gatewayd.storage.tables import instances
from tests.rows import message_row

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _message(message_id: str, application: str, carrier: str | None, **values) -> dict:
    values = {"time_created": NOW - timedelta(hours=1), "carrier": carrier, **values}
    return message_row(message_id, NOW, application=application, **values)


def _receipt(carrier: str, received: datetime, **values) -> dict:
    return {
        "carrier": carrier,
        "carrier_message_id": "abc",
        "carrier_id_key": "abc",
        "state": "DELIVRD",
        "time_received": received,
        **values,
    }


def minutes(n: int) -> datetime:
    return NOW + timedelta(minutes=n)


def test_waiting_messages_count_as_queued_scheduled_or_in_flight(engine):
    with engine.begin() as connection:
        insert_messages(
            connection,
            [
                _message("due-old", "shop", None, next_attempt_at=minutes(-30)),
                _message("due", "shop", "a", next_attempt_at=minutes(-1)),
                _message("later", "shop", "a", next_attempt_at=minutes(60)),
                _message(
                    "claimed",
                    "other",
                    "a",
                    next_attempt_at=minutes(-5),
                    claimed_by="node-1",
                    claimed_until=minutes(1),
                ),
                _message(
                    "lease-ran-out",
                    "other",
                    "b",
                    next_attempt_at=minutes(-5),
                    claimed_by="node-1",
                    claimed_until=minutes(-1),
                ),
                _message("sent", "shop", "a", next_attempt_at=None, status=Status.SUBMITTED),
            ],
        )
        queue = store.message_queue(connection, NOW)

    groups = {
        (g["application"], g["carrier"]): (g["queued"], g["scheduled"], g["in_flight"])
        for g in queue["groups"]
    }
    assert groups == {
        ("shop", None): (1, 0, 0),
        ("shop", "a"): (1, 1, 0),
        ("other", "a"): (0, 0, 1),
        ("other", "b"): (1, 0, 0),
    }
    oldest = {(g["application"], g["carrier"]): g["oldest_due"] for g in queue["groups"]}
    assert oldest[("shop", None)] == minutes(-30) and oldest[("other", "a")] is None
    assert queue["capped"] is False


def test_receipts_waiting_are_those_neither_matched_nor_expired(engine):
    with engine.begin() as connection:
        store_receipts(
            connection,
            [
                _receipt("a", NOW - timedelta(minutes=3)),
                _receipt("a", NOW - timedelta(minutes=1)),
                _receipt("a", NOW - timedelta(minutes=9), time_matched=NOW),
                _receipt("b", NOW - timedelta(minutes=9), time_expired=NOW),
            ],
        )
        waiting = store.receipts_waiting(connection)

    assert waiting == {
        "groups": [{"carrier": "a", "waiting": 2, "oldest": NOW - timedelta(minutes=3)}],
        "capped": False,
    }


def test_instances_are_listed_with_their_leases(engine):
    with engine.begin() as connection:
        connection.execute(
            instances.insert(),
            [
                {
                    "id": f"node-{n}-x",
                    "node_id": f"node-{n}",
                    "home": "here",
                    "pid": 100 + n,
                    "time_started": NOW,
                    "lease_until": NOW + timedelta(seconds=30 * n),
                }
                for n in (2, 1)
            ],
        )
        listed = store.instance_leases(connection)

    assert [(row["id"], row["lease_until"]) for row in listed] == [
        ("node-1-x", NOW + timedelta(seconds=30)),
        ("node-2-x", NOW + timedelta(seconds=60)),
    ]
