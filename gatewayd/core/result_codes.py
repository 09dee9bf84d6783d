"""ResultCode / ResultDescription values of every API answer. 0 is success.

10x the request itself, 20x who may ask, 30x the message, 40x one recipient, 50x the message
asked about, 900 our fault. The README prints this table.
"""

from enum import IntEnum


class Result(IntEnum):
    OK = 0
    MALFORMED_REQUEST = 101
    UNKNOWN_FIELD = 102
    INVALID_FIELD = 103
    MISSING_FIELD = 104
    BODY_TOO_LARGE = 105
    UNSUPPORTED_MEDIA_TYPE = 106
    METHOD_NOT_ALLOWED = 107
    NOT_FOUND = 108
    IDEMPOTENCY_KEY_REUSED = 109
    INVALID_API_KEY = 201
    IP_NOT_ALLOWED = 202
    RATE_LIMITED = 203
    EMPTY_MESSAGE = 301
    TOO_MANY_PARTS = 302
    INVALID_SENDER = 303
    TOO_MANY_RECIPIENTS = 304
    NO_RECIPIENT = 305
    INVALID_TIME = 306
    SCHEDULED_IN_THE_PAST = 307
    VALIDITY_BEFORE_SCHEDULE = 308
    NOT_ENCODABLE_AS_TEXT = 309
    INVALID_NUMBER = 401
    BLACKLISTED = 402
    MESSAGE_NOT_FOUND = 501
    NOT_CANCELLABLE = 502
    INTERNAL_ERROR = 900
    STORAGE_UNAVAILABLE = 901

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self]


DESCRIPTIONS = {
    Result.OK: "Success",
    Result.MALFORMED_REQUEST: "Malformed request",
    Result.UNKNOWN_FIELD: "Unknown field",
    Result.INVALID_FIELD: "Invalid field value",
    Result.MISSING_FIELD: "Missing field",
    Result.BODY_TOO_LARGE: "Request body too large",
    Result.UNSUPPORTED_MEDIA_TYPE: "Unsupported content type",
    Result.METHOD_NOT_ALLOWED: "Method not allowed",
    Result.NOT_FOUND: "No such endpoint",
    Result.IDEMPOTENCY_KEY_REUSED: "Idempotency-Key already used for another request",
    Result.INVALID_API_KEY: "Invalid API key",
    Result.IP_NOT_ALLOWED: "IP address not allowed",
    Result.RATE_LIMITED: "Too many requests",
    Result.EMPTY_MESSAGE: "Empty message",
    Result.TOO_MANY_PARTS: "Message too long",
    Result.INVALID_SENDER: "Invalid sender",
    Result.TOO_MANY_RECIPIENTS: "Too many recipients",
    Result.NO_RECIPIENT: "No valid recipient",
    Result.INVALID_TIME: "Invalid time",
    Result.SCHEDULED_IN_THE_PAST: "Scheduled time in the past",
    Result.VALIDITY_BEFORE_SCHEDULE: "Validity ends before the scheduled time",
    Result.NOT_ENCODABLE_AS_TEXT: "Message cannot be encoded as Text",
    Result.INVALID_NUMBER: "Invalid phone number",
    Result.BLACKLISTED: "Recipient is blacklisted",
    Result.MESSAGE_NOT_FOUND: "Message not found",
    Result.NOT_CANCELLABLE: "Message cannot be cancelled",
    Result.INTERNAL_ERROR: "Internal error",
    Result.STORAGE_UNAVAILABLE: "Not stored: storage unavailable, retry later",
}
