"""The status of an outgoing message: StatusCode and StatusDescription in the API and webhooks.

1xx on its way, 200 delivered, 3xx unknown outcome, 4xx failed or stopped. The README
prints this table.
"""

from enum import IntEnum


class Status(IntEnum):
    QUEUED = 100
    SCHEDULED = 101
    SUBMITTED = 110
    DELIVERED = 200
    UNKNOWN = 300
    UNDELIVERABLE = 400
    EXPIRED = 401
    REJECTED = 402
    BLACKLISTED = 403
    DROPPED = 404
    CANCELLED = 405

    @property
    def description(self) -> str:
        return self.name.capitalize()

    @property
    def final(self) -> bool:
        return self >= Status.DELIVERED


STATUS_DESCRIPTIONS = {
    Status.QUEUED: "accepted, waiting to be submitted to a carrier",
    Status.SCHEDULED: "accepted, waiting for its scheduled time",
    Status.SUBMITTED: "submitted to a carrier, waiting for the delivery receipt",
    Status.DELIVERED: "delivered to the handset",
    Status.UNKNOWN: "the carrier could not tell, or no receipt came before validity ended",
    Status.UNDELIVERABLE: "the carrier could not deliver it",
    Status.EXPIRED: "its validity ended before it could be delivered",
    Status.REJECTED: "refused by the carrier (the SMPP error is in StatusDescription)",
    Status.BLACKLISTED: "the recipient is on the account's blacklist",
    Status.DROPPED: "outside the application's time windows",
    Status.CANCELLED: "cancelled before it was submitted",
}
