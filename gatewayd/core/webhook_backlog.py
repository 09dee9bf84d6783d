"""The webhook backlog as operators read it: per application and destination host, the jobs
pending, the age of the oldest and the last error (admin API, status page)."""

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection

from gatewayd.storage import webhook_backlog as store


def webhook_backlog(connection: Connection, now: datetime) -> list[dict[str, Any]]:
    """Sorted by application, then host."""
    by_host: dict[tuple[str, str], dict[str, Any]] = {}
    for group in store.pending_by_url(connection):
        key = (group["application"], destination_host(group["url"]))
        entry = by_host.setdefault(
            key,
            {"application": key[0], "host": key[1], "pending": 0, "oldest": group["oldest"]},
        )
        entry["pending"] += group["pending"]
        if group["oldest"] <= entry["oldest"]:
            entry["oldest"] = group["oldest"]
        if group["last_error"] is not None:
            entry["last_error"] = group["last_error"]
    return [
        {
            "application": entry["application"],
            "host": entry["host"],
            "pending": entry["pending"],
            "oldest_age_s": round((now - entry["oldest"]).total_seconds(), 1),
            "last_error": entry.get("last_error"),
        }
        for _, entry in sorted(by_host.items())
    ]


def destination_host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
