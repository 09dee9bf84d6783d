"""A stored outgoing message as storage tests insert it: one part of plain text for acme's
shop, Queued at `now` and valid a day; a test gives what its case changes."""

from datetime import datetime, timedelta
from typing import Any

from gatewayd.core.statuses import Status


def message_row(
    message_id: str, now: datetime, status: Status = Status.QUEUED, **values: Any
) -> dict:
    return {
        "id": message_id,
        "account": "acme",
        "application": "shop",
        "recipient": "32470000001",
        "body": "hello",
        "encoding": "TEXT",
        "number_of_parts": 1,
        "number_of_chars": 5,
        "concat_ref": 1,
        "status": int(status),
        "status_description": status.description,
        "time_created": now,
        "validity_until": now + timedelta(days=1),
        **values,
    }
