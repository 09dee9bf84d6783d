"""What a status change or an incoming message leaves for the application: a record to poll
(Status / Incoming endpoints) and, when a webhook is configured, a job in the outbox."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from gatewayd.core.directory import App, Directory
from gatewayd.core.records import derived_status_record, incoming_record
from gatewayd.core.statuses import Status
from gatewayd.storage import messages as message_store
from gatewayd.storage import outbox as outbox_store

UTC_ZONE = ZoneInfo("UTC")
Rows = tuple[list[dict[str, Any]], list[dict[str, Any]]]
MESSAGE_GONE = "its message was deleted (retention.messages_days) before it was sent"


def status_events(message: Mapping[str, Any], app: App | None, now: datetime) -> Rows:
    """The poll record and jobs of `message` having reached its status `now`: rows that
    carry the status and point to the message, whose other fields make the rest of the
    record when it is handed out (`derived_status_record`)."""
    status = {
        "message_id": message["id"],
        "status": message["status"],
        "status_description": message["status_description"],
        "status_time": now,
    }
    poll = [_poll_row(message["application"], "status", None, now, message["sandbox"]) | status]
    url = message.get("status_url")
    method, form = message.get("status_method"), message.get("status_format")
    if url is None and app is not None and app.config.webhooks.status is not None:
        target = app.config.webhooks.status
        url, method, form = target.url, target.method, target.format
    final = Status(message["status"]).final
    if app is not None and app.config.webhooks.final_statuses_only and not final:
        url = None
    application, message_id = message["application"], message["id"]
    jobs = (
        [_job(application, "status", message_id, url, method, form, None, now) | status]
        if url
        else []
    )
    if message.get("front_door") == "smpp" and final:
        jobs.append(_smpp_job(application, "status", message_id, None, now) | status)
    return poll, jobs


def carried_record(
    row: Any, messages: Mapping[str, Mapping[str, Any]], directory: Directory
) -> dict[str, Any] | None:
    """The record a poll row or an outbox job carries: its own, or one derived from its
    message (None once retention deleted the message)."""
    if row.record is not None:
        return row.record
    message = messages.get(row.message_id)
    if message is None:
        return None
    app = directory.by_name.get(message["application"])
    zone = app.config.time_zone if app else UTC_ZONE
    return derived_status_record(message, row.status, row.status_description, row.status_time, zone)


def carried_records(
    connection: Connection, rows: list[Any], directory: Directory
) -> list[dict[str, Any] | None]:
    """`carried_record` of each poll row or outbox job, their messages read at once."""
    messages = message_store.messages_by_id(
        connection, (row.message_id for row in rows if row.record is None)
    )
    return [carried_record(row, messages, directory) for row in rows]


def claimed_with_records(
    connection: Connection, jobs: list[Any], directory: Directory, now: datetime
) -> list[Any]:
    """Claimed outbox jobs, each with the record it carries. A job whose message retention
    deleted has nothing left to send: it fails at once, in the claim's transaction."""
    ready, gone = [], []
    for job, record in zip(jobs, carried_records(connection, jobs, directory), strict=True):
        if record is None:
            gone.append(outbox_store.finished(job.id, "failed", now, job.attempts, MESSAGE_GONE))
        else:
            ready.append(job._replace(record=record))
    if gone:
        outbox_store.record_outcomes(connection, gone, [])
    return ready


def status_events_in(directory: Directory, message: Mapping[str, Any], now: datetime) -> Rows:
    """`status_events` for a stored message: its application is looked up (it may be gone)."""
    return status_events(message, directory.by_name.get(message["application"]), now)


def incoming_events(incoming: Mapping[str, Any], app: App, now: datetime) -> Rows:
    record = incoming_record(incoming, app.config.time_zone)
    poll = [_poll_row(app.name, "incoming", record, now, sandbox=False)]
    target, jobs = app.config.webhooks.incoming, []
    if target:
        url, method, form = target.url, target.method, target.format
        jobs.append(_job(app.name, "incoming", incoming["id"], url, method, form, record, now))
    if app.config.smpp is not None:
        jobs.append(_smpp_job(app.name, "incoming", incoming["id"], record, now))
    return poll, jobs


def _poll_row(
    application: str, kind: str, record: dict | None, now: datetime, sandbox: bool
) -> dict[str, Any]:
    return {
        "application": application,
        "kind": kind,
        "sandbox": sandbox,
        "record": record,
        "time_created": now,
    }


def _job(
    application: str,
    kind: str,
    message_id: str,
    url: str,
    method: str | None,
    form: str | None,
    record: dict | None,
    now: datetime,
) -> dict[str, Any]:
    return {
        "channel": "webhook",
        "application": application,
        "kind": kind,
        "message_id": message_id,
        "url": url,
        "method": method or "POST",
        "format": form or "JSON",
        "record": record,
        "state": "pending",
        "attempts": 0,
        "time_created": now,
        "next_attempt_at": now,
    }


def _smpp_job(
    application: str, kind: str, message_id: str, record: dict | None, now: datetime
) -> dict[str, Any]:
    """A deliver_sm for the application's SMPP receiver binds."""
    return {
        "channel": "smpp",
        "application": application,
        "kind": kind,
        "message_id": message_id,
        "record": record,
        "state": "pending",
        "attempts": 0,
        "time_created": now,
        "next_attempt_at": now,
    }
