"""The one owner of a message's status: which status may follow which, and how a batch of
transitions is written.

The dispatcher, receipt matching, the receipt deadline and Cancel ask for transitions here
and never write a status themselves. The table below is the whole life of a message: a new
message is Scheduled, Queued or Dropped; a waiting one is submitted or ends without being
sent; a submitted one ends as its receipts (or their absence) say; a final status is never
left, but by an operator's requeue of a message that never reached a carrier. A transition
the table does not allow from the status a message has in the database changes nothing (the
update is guarded by it), so two nodes, or a receipt racing a Cancel, never move a message
backwards.

A batch of transitions of any mix is written with one statement per kind (same status and
values), the poll records and webhook jobs of what changed with one insert each, and what
to count is kept until the transaction has committed.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection

from gatewayd.core.directory import Directory
from gatewayd.core.events import status_events_in
from gatewayd.core.statuses import Status
from gatewayd.storage import messages as store

_WAITING = frozenset({Status.SCHEDULED, Status.QUEUED})
_CARRIER_ENDS = frozenset(
    {Status.DELIVERED, Status.UNDELIVERABLE, Status.EXPIRED, Status.REJECTED, Status.UNKNOWN}
)
"""What a carrier (its receipt, its refusal) or the lack of a receipt can end a message with."""

NEW = frozenset({Status.SCHEDULED, Status.QUEUED, Status.DROPPED})
"""The statuses a message may be accepted with."""

NEXT: dict[Status, frozenset[Status]] = {
    Status.SCHEDULED: frozenset({Status.QUEUED, Status.SUBMITTED, Status.BLACKLISTED})
    | {Status.CANCELLED}
    | _CARRIER_ENDS,
    Status.QUEUED: frozenset({Status.SUBMITTED, Status.BLACKLISTED, Status.CANCELLED})
    | _CARRIER_ENDS,
    Status.SUBMITTED: _CARRIER_ENDS,
    **{status: frozenset() for status in Status if status.final},
}
"""The statuses each status may become. A waiting message may end with a carrier's verdict
before it is Submitted: a receipt of an earlier part of a long message, or a refusal."""

SOURCES: dict[Status, tuple[int, ...]] = {
    target: tuple(sorted(int(s) for s, targets in NEXT.items() if target in targets))
    for target in Status
}
"""The statuses a message may have for a transition to `target` to apply."""

REQUEUED_FROM = frozenset({Status.REJECTED, Status.EXPIRED})
"""The one way out of a final status: an operator's requeue (core/requeue.py) queues again a
message that ended so before any part of it reached a carrier."""

UNSENT_ONLY = frozenset({Status.CANCELLED})
"""Transitions that apply only while no part of the message has been submitted."""


def accepted_status(scheduled: bool, dropped: bool) -> Status:
    """The status a new message is stored with."""
    status = Status.DROPPED if dropped else Status.SCHEDULED if scheduled else Status.QUEUED
    assert status in NEW
    return status


def may_follow(current: Status, target: Status) -> bool:
    return target in NEXT[current]


class Reached(NamedTuple):
    """A transition applied."""

    message_id: str
    application: str
    carrier: str
    status: Status

    @property
    def counted(self) -> tuple[str, str, Status]:
        """(application, carrier, status), as the status metrics count it."""
        return self.application, self.carrier, self.status


@dataclass(frozen=True)
class _Kind:
    """Transitions written by one statement: the same status and values."""

    status: Status
    description: str
    carrier: str | None
    smpp_status: int | None
    submitted: bool


@dataclass
class Transitions:
    """Transitions asked for within one transaction, then applied together."""

    directory: Directory
    now: datetime
    reached: list[Reached] = field(default_factory=list)
    """Each transition applied, to be counted once committed."""
    _asked: dict[_Kind, list[str]] = field(default_factory=dict, init=False, repr=False)

    def ask(
        self,
        message_id: str,
        status: Status,
        description: str | None = None,
        *,
        carrier: str | None = None,
        smpp_status: int | None = None,
        submitted: bool = False,
    ) -> None:
        """Ask for `message_id` to become `status`. `carrier` and `smpp_status` are kept
        when given; `submitted` says the carrier has the message (its submit time is set
        if it had none: Submitted, a receipt, a sandbox delivery)."""
        described = (description or status.description)[:255]
        kind = _Kind(
            status, described, carrier, smpp_status, submitted or status is Status.SUBMITTED
        )
        self._asked.setdefault(kind, []).append(message_id)

    def apply(self, connection: Connection) -> dict[str, Any]:
        """Write what was asked and the events it leaves; the rows that changed, by id.

        Kinds are written in the order of the life of a message (Submitted before final
        statuses), so a message asked to become both in one batch goes through both."""
        changed: dict[str, Any] = {}
        poll: list[dict[str, Any]] = []
        jobs: list[dict[str, Any]] = []
        for kind in sorted(self._asked, key=lambda k: k.status.final):
            asked = self._asked[kind]
            rows = store.transition(
                connection,
                asked,
                SOURCES[kind.status],
                unsent_only=kind.status in UNSENT_ONLY,
                status=int(kind.status),
                description=kind.description,
                done_at=self.now if kind.status.final else None,
                submitted_at=self.now if kind.submitted else None,
                carrier=kind.carrier,
                smpp_status=kind.smpp_status,
            )
            if kind.status is Status.SUBMITTED and len(rows) < len(asked):
                # Ended by a receipt of an earlier part: the claim of its dispatch is let go.
                ended = {row.id for row in rows}
                store.release_claims(connection, [i for i in asked if i not in ended])
            order = {message_id: index for index, message_id in enumerate(asked)}
            for row in sorted(rows, key=lambda row: order[row.id]):
                changed[row.id] = row
                self.reached.append(
                    Reached(row.id, row.application, row.carrier or "", kind.status)
                )
                row_poll, row_jobs = status_events_in(self.directory, row._mapping, self.now)
                poll += row_poll
                jobs += row_jobs
        self._asked.clear()
        store.add_events(connection, poll, jobs)
        return changed
