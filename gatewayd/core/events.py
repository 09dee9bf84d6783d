"""What a status change or an incoming message leaves for the application: a record to poll
(Status / Incoming endpoints) and, when a webhook is configured, a job in the outbox."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gatewayd.core.directory import App, Directory
from gatewayd.core.records import incoming_record, status_record
from gatewayd.core.statuses import Status

UTC_ZONE = ZoneInfo("UTC")
Rows = tuple[list[dict[str, Any]], list[dict[str, Any]]]


def status_events(message: Mapping[str, Any], app: App | None, now: datetime) -> Rows:
    zone = app.config.time_zone if app else UTC_ZONE
    record = status_record(message, zone)
    poll = [_poll_row(message["application"], "status", record, now, message["sandbox"])]
    url = message.get("status_url")
    method, form = message.get("status_method"), message.get("status_format")
    if url is None and app is not None and app.config.webhooks.status is not None:
        target = app.config.webhooks.status
        url, method, form = target.url, target.method, target.format
    final = Status(message["status"]).final
    if app is not None and app.config.webhooks.final_statuses_only and not final:
        url = None
    application, message_id = message["application"], message["id"]
    jobs = [_job(application, "status", message_id, url, method, form, record, now)] if url else []
    if message.get("front_door") == "smpp" and final:
        jobs.append(_smpp_job(application, "status", message_id, record, now))
    return poll, jobs


def status_events_in(directory: Directory, message: Mapping[str, Any], now: datetime) -> Rows:
    """`status_events` for a stored message: its application is looked up (it may be gone)."""
    return status_events(message, directory.by_name.get(message["application"]), now)


def incoming_events(incoming: Mapping[str, Any], app: App, now: datetime) -> Rows:
    record = incoming_record(incoming, app.config.time_zone)
    poll = [_poll_row(app.name, "incoming", record, now, sandbox=False)]
    target = app.config.webhooks.incoming
    jobs = (
        [_job(app.name, "incoming", None, target.url, target.method, target.format, record, now)]
        if target
        else []
    )
    if app.config.smpp is not None:
        jobs.append(_smpp_job(app.name, "incoming", None, record, now))
    return poll, jobs


def _poll_row(
    application: str, kind: str, record: dict, now: datetime, sandbox: bool
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
    message_id: str | None,
    url: str,
    method: str | None,
    form: str | None,
    record: dict,
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
    application: str, kind: str, message_id: str | None, record: dict, now: datetime
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
