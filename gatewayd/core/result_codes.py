"""ResultCode / ResultDescription / HTTP status of every API answer: RingRing's numbers.

RingRing numbers its results 0-37 (the official Java client lists them in
`exception/Error.java`); client code written against RingRing maps those numbers, so
gatewayd puts them on the wire. Each member is one condition gatewayd tells apart; several
members share a RingRing code where RingRing has one code for them (its nearest code), and
the ResultDescription carries gatewayd's detail. `int(result)` is the wire code.

RingRing gives some meanings two codes (5/6, 9/10, 12/14, 19/22, 24/25, 3/23) and documents
neither its clients nor its support articles which is which. RingRing's numbering follows its
order of checks (request fields first, then the lookups that need the database), and the
Java client names the second of each pair `_BIS`; gatewayd therefore uses the first code for
a field that is missing or cannot be read, and the second for a readable value that is
refused:
- 12 the apiKey is missing or not text; 14 no application has that key.
- 5 `from` is not a readable sender; 6 it is not a number of this application.
- 9 `to` is missing or not a list of numbers (or no recipient is left); 10 one recipient is
  not a valid MSISDN (per recipient, in Messages).
- 3 timeScheduled cannot be read; 23 it is in the past (or out of range).
- 19 timeValidity cannot be read; 22 it ends before the message would be sent.
- 24 maxRecords is not a whole number; 25 it is outside 1-1000.

A quota of an application or account (messages or parts per day or month) takes 37, Trial
Quota Limit Reached, the only code RingRing has for a quota, and not 30: 30 is the request
rate of debug mode, whose X-Rate-Limit headers and Retry-After describe that minute's window.

HTTP status: RingRing answers 200, 400, 403 (forbidden: IP denied, throttling) and 500, and
the Java client reads the body only on 200, 201 and 400. So everything a client must read
(wrong key, message not found, not cancellable, a body too large, an unsupported content
type) is 400; 403 is kept for the two conditions RingRing answers with it, which every client
reports as "forbidden / throttling" even without reading the body. Paths and methods that are
no API endpoint keep 404/405: no client calls them. A request answered while the database
refuses writes gets 500 (RingRing's Internal) with Retry-After: nothing of it was stored.
"""

from enum import Enum
from typing import NamedTuple


class Meaning(NamedTuple):
    code: int
    http_status: int
    description: str


class Result(Enum):
    OK = Meaning(0, 200, "Success")
    INTERNAL_ERROR = Meaning(1, 500, "Internal error")
    STORAGE_UNAVAILABLE = Meaning(1, 500, "Internal error: not stored, storage unavailable")
    INVALID_TIME = Meaning(3, 400, "TimeScheduled invalid")
    REFERENCE_TOO_LONG = Meaning(4, 400, "Reference too long")
    MALFORMED_SENDER = Meaning(5, 400, "Number From invalid")
    INVALID_SENDER = Meaning(6, 400, "Number From invalid")
    EMPTY_MESSAGE = Meaning(7, 400, "Message empty")
    TOO_MANY_PARTS = Meaning(8, 400, "Message too long")
    MESSAGE_TOO_LONG = Meaning(8, 400, "Message too long: more text than any message holds")
    INVALID_RECIPIENTS = Meaning(9, 400, "Number To invalid")
    MISSING_RECIPIENTS = Meaning(9, 400, "Number To invalid: no recipient given")
    NO_RECIPIENT = Meaning(9, 400, "Number To invalid: no valid recipient")
    INVALID_NUMBER = Meaning(10, 400, "Number To invalid")
    MISSING_API_KEY = Meaning(12, 400, "ApiKey invalid: no apiKey given")
    MALFORMED_REQUEST = Meaning(13, 400, "XML or JSON invalid")
    UNKNOWN_FIELD = Meaning(13, 400, "XML or JSON invalid: unknown field")
    INVALID_FIELD = Meaning(13, 400, "XML or JSON invalid: invalid field value")
    MISSING_FIELD = Meaning(13, 400, "XML or JSON invalid: missing field")
    BODY_TOO_LARGE = Meaning(13, 400, "XML or JSON invalid: request body too large")
    UNSUPPORTED_MEDIA_TYPE = Meaning(13, 400, "XML or JSON invalid: unsupported content type")
    NOT_ENCODABLE_AS_TEXT = Meaning(13, 400, "XML or JSON invalid: message cannot be Text")
    METHOD_NOT_ALLOWED = Meaning(13, 405, "Method not allowed")
    NOT_FOUND = Meaning(13, 404, "No such endpoint")
    IDEMPOTENCY_KEY_REUSED = Meaning(
        13, 400, "XML or JSON invalid: Idempotency-Key already used for another request"
    )
    INVALID_API_KEY = Meaning(14, 400, "ApiKey invalid")
    IP_NOT_ALLOWED = Meaning(15, 403, "IP Address denied")
    INVALID_STATUS_URL = Meaning(17, 400, "StatusUrl invalid")
    INVALID_STATUS_METHOD = Meaning(18, 400, "StatusMethod invalid")
    INVALID_VALIDITY = Meaning(19, 400, "TimeValidity invalid")
    TOO_MANY_RECIPIENTS = Meaning(20, 400, "Number To limit reached")
    VALIDITY_BEFORE_SCHEDULE = Meaning(
        22, 400, "TimeValidity invalid: it ends before the message is sent"
    )
    SCHEDULED_IN_THE_PAST = Meaning(23, 400, "TimeSchedule invalid: it is in the past")
    MALFORMED_MAX_RECORDS = Meaning(24, 400, "MaxRecords invalid")
    MAX_RECORDS_OUT_OF_RANGE = Meaning(25, 400, "MaxRecords invalid")
    INVALID_MESSAGE_ID = Meaning(26, 400, "MessageId invalid")
    NOT_CANCELLABLE = Meaning(26, 400, "MessageId invalid: the message cannot be cancelled")
    ALREADY_CANCELLED = Meaning(27, 400, "Message already cancelled")
    MESSAGE_NOT_FOUND = Meaning(29, 400, "MessageId not found")
    RATE_LIMITED = Meaning(30, 403, "X-RateLimit reached")
    INVALID_SENDER_ID = Meaning(31, 400, "SenderId invalid")
    BLACKLISTED = Meaning(32, 400, "Number To Blacklisted")
    INVALID_STATUS_FORMAT = Meaning(33, 400, "StatusFormat invalid")
    MAINTENANCE = Meaning(34, 400, "Maintenance")
    TRIAL_EXPIRED = Meaning(35, 400, "Trial Period Expired")
    NOT_AUTHORIZED_IN_TRIAL = Meaning(36, 400, "Mobile Not Authorized")
    TRIAL_QUOTA_REACHED = Meaning(37, 400, "Trial Quota Limit Reached")
    QUOTA_REACHED = Meaning(37, 400, "Quota Limit Reached")

    def __int__(self) -> int:
        return self.value.code

    @property
    def code(self) -> int:
        return self.value.code

    @property
    def http_status(self) -> int:
        return self.value.http_status

    @property
    def description(self) -> str:
        return self.value.description
