"""Submitting a failed message again (`gatewayd admin requeue`).

Only a message that never reached a carrier qualifies: Rejected (302: the carrier refused it,
perhaps for a reason since fixed) and Expired (301) before it was submitted. A message that
was submitted (Undeliverable, Unknown, an Expired receipt) may already be on the handset, and
sending it again would deliver it twice; delivered, cancelled, blacklisted or dropped ones
are what the client or the recipient wanted. The message is queued as new (attempts from
zero, its validity renewed by its original span when it has run out), and its client sees
a status record Queued (10) before its new outcome.
"""

from datetime import datetime

from sqlalchemy import Connection

from gatewayd.core.directory import Directory
from gatewayd.core.events import status_events_in
from gatewayd.core.lifecycle import REQUEUED_FROM
from gatewayd.core.statuses import Status
from gatewayd.storage import messages as store

REQUEUEABLE = tuple(sorted(REQUEUED_FROM))


class NotRequeueable(Exception):
    """The message cannot be submitted again; the message says why, in one line."""

    def __init__(self, reason: str, missing: bool = False) -> None:
        super().__init__(reason)
        self.missing = missing


def requeue(connection: Connection, directory: Directory, message_id: str, now: datetime) -> None:
    current = store.get_message(connection, message_id)
    if current is None:
        raise NotRequeueable("no such message", missing=True)
    status = Status(current.status)
    if current.sandbox or status not in REQUEUEABLE or current.time_submitted is not None:
        raise NotRequeueable(
            f"it is {status.description} ({int(status)}); only a message Rejected or Expired "
            "before it reached a carrier can be queued again"
        )
    span = current.validity_until - (current.time_scheduled or current.time_created)
    updated = store.requeue_if_unsent(
        connection,
        message_id,
        [int(s) for s in REQUEUEABLE],
        {
            "status": int(Status.QUEUED),
            "status_description": Status.QUEUED.description,
            "smpp_status": None,
            "carrier": None,
            "time_done": None,
            "validity_until": max(current.validity_until, now + span),
            "next_attempt_at": now,
            "attempts": 0,
            "claimed_by": None,
            "claimed_until": None,
        },
    )
    if updated is None:
        raise NotRequeueable("its status changed meanwhile")
    poll, jobs = status_events_in(directory, updated._mapping, now)
    store.add_events(connection, poll, jobs)
