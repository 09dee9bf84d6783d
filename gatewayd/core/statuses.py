"""The status of an outgoing message: StatusCode and StatusDescription in the API and webhooks.

RingRing's ranges (its support article "Message status, errorcodes and flow of a message"):
below 100 not sent yet (0 scheduled, 10 being submitted), 1xx submitted and pending, 200-201
delivered, 3xx not delivered by the provider, 4xx unknown (no receipt ever came), 8xx not
sent on by the gateway, 9xx in progress. gatewayd's own outcomes sit inside them. The README
prints this table.
"""

from enum import IntEnum
from typing import Protocol


class Status(IntEnum):
    SCHEDULED = 0
    QUEUED = 10
    SUBMITTED = 100
    DELIVERED = 200
    UNDELIVERABLE = 300
    EXPIRED = 301
    REJECTED = 302
    UNKNOWN = 400
    BLACKLISTED = 801
    DROPPED = 802
    CANCELLED = 803

    @property
    def description(self) -> str:
        return self.name.capitalize()

    @property
    def final(self) -> bool:
        """Delivered, not delivered, unknown or not sent on: never below 200 (not sent yet,
        pending) nor 9xx (in progress), which RingRing updates later."""
        return 200 <= self < 900

    @property
    def code(self) -> str:
        """StatusCode as RingRing sends it: a JSON string ("200"), as its clients read it."""
        return str(int(self))


STATUS_DESCRIPTIONS = {
    Status.SCHEDULED: "accepted, waiting for its scheduled time",
    Status.QUEUED: "accepted, being submitted to a carrier",
    Status.SUBMITTED: "submitted to a carrier, waiting for the delivery receipt",
    Status.DELIVERED: "delivered to the handset",
    Status.UNDELIVERABLE: "the carrier could not deliver it",
    Status.EXPIRED: "its validity ended before it could be delivered",
    Status.REJECTED: "refused by the carrier (the SMPP error is in StatusDescription)",
    Status.UNKNOWN: "the carrier could not tell, or no receipt came before validity ended",
    Status.BLACKLISTED: "not sent: the recipient is on the account's blacklist",
    Status.DROPPED: "not sent: outside the application's time windows",
    Status.CANCELLED: "not sent: cancelled before it was submitted",
}


class StatusCallback(Protocol):
    """Told of each status a message reaches, once committed; `sandbox` for the sandbox's
    messages (only live ones ever reach a carrier, so its receipts and deadlines are live)."""

    def __call__(
        self, application: str, carrier: str, status: Status, sandbox: bool = False
    ) -> None: ...
