"""A database with history: older messages, final and delivered, each with its part and its
status record handed out, as a gatewayd that has run for a while keeps them.

The messages go to a recipient and application the load does not use, so every claim and
lookup of the load must find its own rows among them through an index: a cost that grows
with the table shows as a lower rate than on an empty database.
"""

import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text

from gatewayd.storage import bulk
from gatewayd.storage.tables import message_parts, messages, poll_queue

CHUNK = 20_000
OLD_RECIPIENT = "32470999999"


def fill(database: str, count: int) -> float:
    """Insert `count` old messages (with a part and a fetched status record each) into the
    migrated database at `database`; the seconds it took."""
    started = time.monotonic()
    engine = create_engine(database)
    start = datetime.now(UTC) - timedelta(hours=12)  # inside default retention
    try:
        for first in range(0, count, CHUNK):
            numbers = range(first, min(first + CHUNK, count))
            rows = [_message(number, start + timedelta(milliseconds=number)) for number in numbers]
            with engine.begin() as connection:
                bulk.insert_rows(connection, messages, [row for row, _, _ in rows])
                bulk.insert_rows(connection, message_parts, [part for _, part, _ in rows])
                bulk.insert_rows(connection, poll_queue, [record for _, _, record in rows])
            print(f"\r{first + len(numbers):,} old messages", end="", file=sys.stderr)
        print(file=sys.stderr)
        if engine.dialect.name == "postgresql":
            # What autovacuum does within a minute of such a load: plans from real statistics.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("ANALYZE"))
    finally:
        engine.dispose()
    return time.monotonic() - started


def _message(number: int, created: datetime) -> tuple[dict, dict, dict]:
    message_id = str(uuid.UUID(int=number))
    done = created + timedelta(seconds=2)
    message = {
        "id": message_id,
        "account": "history",
        "application": "history",
        "sandbox": False,
        "reference": f"old-{number}",
        "recipient": OLD_RECIPIENT,
        "sender": "8686",
        "body": "An older message, delivered.",
        "encoding": "TEXT",
        "number_of_parts": 1,
        "number_of_chars": 28,
        "concat_ref": number % 256,
        "replace_if_present": False,
        "status": 200,
        "status_description": "Delivered",
        "carrier": "sim",
        "front_door": "http",
        "time_created": created,
        "time_submitted": created,
        "time_done": done,
        "validity_until": created + timedelta(hours=72),
        "attempts": 1,
    }
    part = {
        "message_id": message_id,
        "part_no": 1,
        "carrier": "sim",
        "carrier_message_id": f"old{number}",
        "carrier_id_key": f"old{number}",
        "state": "delivered",
        "time_submitted": created,
        "time_done": done,
    }
    record = {
        "application": "history",
        "kind": "status",
        "sandbox": False,
        "record": {"MessageId": message_id, "StatusCode": "200"},
        "time_created": done,
        "time_fetched": done,
    }
    return message, part, record
