"""A trace: every event of a message in time order, for operators (admin API and CLI).

accepted (front door) → each part's submit_sm sent, its submit_sm_resp (carrier, carrier id)
and its receipt (state, error), each at the moment it happened on the wire (not when a batch
recorded it) → the final status → each webhook attempt (HTTP status or error, source
address) and each SMPP delivery of a status to the application's binds.

An incoming message: received (carrier) → routed (the keyword that chose its application, or
the number's own) → what the gateway did (STOP, START, HELP, with its reply's MessageId) →
each webhook attempt and SMPP delivery of it.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from gatewayd.core.masking import mask_url
from gatewayd.core.statuses import Status
from gatewayd.storage import trace as store
from gatewayd.storage.attempt_log import attempts_of

Event = dict[str, Any]


def trace_messages(
    connection: Connection,
    message_id: str | None = None,
    reference: str | None = None,
    recipient: str | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """The traces of the messages found by id, reference or recipient, newest first."""
    found = store.find_messages(connection, message_id, reference, recipient, limit)
    return [trace_of(connection, message) for message in found]


def trace_of(connection: Connection, message: Row) -> dict[str, Any]:
    status = Status(message.status)
    events: list[Event] = [
        _event(
            message.time_created,
            "accepted",
            front_door=message.front_door,
            application=message.application,
        )
    ]
    for part in store.parts_of(connection, message.id):
        if part.time_sent is not None:  # parts recorded before 0009 have no send time
            events.append(_event(part.time_sent, "sent", part=part.part_no, carrier=part.carrier))
        events.append(
            _event(
                part.time_submitted,
                "submitted",
                part=part.part_no,
                carrier=part.carrier,
                carrier_message_id=part.carrier_message_id,
                response_ms=_milliseconds(part.time_sent, part.time_submitted),
            )
        )
        if part.time_done is not None:  # the receipt that ended the part
            events.append(
                _event(
                    part.time_done, "receipt", part=part.part_no, state=part.state, error=part.error
                )
            )
    if status.final and message.time_done is not None:
        events.append(
            _event(
                message.time_done,
                "final",
                status=status.description,
                description=message.status_description,
            )
        )
    events += _deliveries(connection, store.status_jobs_for(connection, message))
    events.sort(key=lambda event: event["time"])
    for event in events:
        event["time"] = event["time"].isoformat()
    return {
        "message": {
            "MessageId": message.id,
            "account": message.account,
            "application": message.application,
            "reference": message.reference,
            "to": message.recipient,
            "from": message.sender,
            "status": status.description,
            "status_description": message.status_description,
            "parts": message.number_of_parts,
            "sandbox": message.sandbox,
        },
        "events": events,
    }


def trace_incoming(
    connection: Connection,
    message_id: str | None = None,
    sender: str | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """The traces of the incoming messages found by id or sender, newest first."""
    found = store.find_incoming(connection, message_id, sender, limit)
    return [incoming_trace_of(connection, incoming) for incoming in found]


def incoming_trace_of(connection: Connection, incoming: Row) -> dict[str, Any]:
    events: list[Event] = [
        _event(incoming.time_received, "received", carrier=incoming.carrier),
        _event(incoming.time_received, "routed", **_route_of(incoming)),
    ]
    if incoming.action is not None:
        events.append(_event(incoming.time_received, incoming.action, reply=incoming.reply_id))
    events += _deliveries(connection, store.incoming_jobs_for(connection, incoming))
    events.sort(key=lambda event: event["time"])
    for event in events:
        event["time"] = event["time"].isoformat()
    return {
        "incoming": {
            "MessageId": incoming.id,
            "account": incoming.account,
            "application": incoming.application,
            "from": incoming.sender,
            "to": incoming.recipient,
            "carrier": incoming.carrier,
            "keyword": incoming.keyword,
            "action": incoming.action,
            "reply": incoming.reply_id,
        },
        "events": events,
    }


def _route_of(incoming: Row) -> dict[str, Any]:
    """How the incoming message found its application: by its keyword, as the number's
    default, or not at all (no application owns the number)."""
    if incoming.application is None:
        return {"application": None, "by": "unowned"}
    if incoming.keyword is not None:
        return {"application": incoming.application, "by": "keyword", "keyword": incoming.keyword}
    return {"application": incoming.application, "by": "default"}


def _deliveries(connection: Connection, jobs: list[Row]) -> list[Event]:
    attempts: dict[int, list[dict]] = {}
    webhook_ids = [job.id for job in jobs if job.channel == "webhook"]
    for attempt in attempts_of(connection, webhook_ids) if webhook_ids else []:
        attempts.setdefault(attempt["outbox_id"], []).append(attempt)
    events: list[Event] = []
    for job in jobs:
        carried = (
            job.status_description if job.record is None else job.record.get("StatusDescription")
        )
        if job.channel == "smpp":
            events.append(
                _event(
                    job.time_done or job.time_created,
                    "smpp_delivery",
                    carried=carried,
                    state=job.state,
                    attempts=job.attempts,
                    error=job.last_error,
                )
            )
            continue
        for attempt in attempts.get(job.id, []):
            events.append(
                _event(
                    attempt["time_attempted"],
                    "webhook",
                    carried=carried,
                    url=mask_url(job.url),
                    status_code=attempt["status_code"],
                    error=attempt["error"],
                    source_address=attempt["source_address"],
                    duration_ms=attempt["duration_ms"],
                )
            )
        if job.state == "pending":
            events.append(
                _event(job.next_attempt_at or job.time_created, "webhook_due", carried=carried)
            )
    return events


def _event(time: datetime, kind: str, **details: Any) -> Event:
    return {"time": time, "event": kind, **details}


def _milliseconds(start: datetime | None, end: datetime) -> float | None:
    return None if start is None else round((end - start).total_seconds() * 1000, 1)
