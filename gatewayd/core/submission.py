"""Accepting messages: the one path every front door (HTTP, e-mail, SMPP) sends through.

authenticate (done by the front door) → message checks (text, encoding, length, sender,
times, trial end) → per-recipient checks (number, blacklist, trial's authorized numbers) →
time window → store durably, taking the quotas in the same transaction (all the request's
messages or none) → answer.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import trio
from sqlalchemy import Engine

from gatewayd.config.checks import ALPHANUMERIC_SENDER
from gatewayd.core.directory import App
from gatewayd.core.encoding import Encoding, NotEncodable, encode_text, parse_encoding
from gatewayd.core.events import status_events
from gatewayd.core.ids import new_message_id
from gatewayd.core.lifecycle import accepted_status
from gatewayd.core.quotas import Priced, authorized_in_trial, charges, trial_ended
from gatewayd.core.recipients import (
    TooManyRecipients,
    check_recipient,
    country_of,
    split_recipients,
)
from gatewayd.core.result_codes import Result
from gatewayd.core.segmentation import split_payload
from gatewayd.core.statuses import Status
from gatewayd.core.time_windows import within_windows
from gatewayd.storage import blacklist as blacklist_store
from gatewayd.storage import messages as message_store
from gatewayd.storage.idempotency import INSERT_ACCEPTED_ONCE, Remembered
from gatewayd.storage.quotas import Charge
from gatewayd.storage.writer import Writer

if TYPE_CHECKING:
    from gatewayd.metrics import Metrics

DEFAULT_VALIDITY = timedelta(hours=72)
SCHEDULE_GRACE = timedelta(minutes=1)


@dataclass(frozen=True)
class StatusWebhook:
    url: str
    method: str = "POST"
    format: str = "JSON"


@dataclass
class SubmitRequest:
    recipients: str | list[str] | None
    text: str | None
    sender: str | None = None
    sender_id: str | None = None
    encoding: Encoding | None = None
    time_scheduled: datetime | None = None
    time_validity: datetime | None = None
    reference: str | None = None
    replace_if_present: bool = False
    status_webhook: StatusWebhook | None = None
    sandbox: bool = False
    front_door: str = "http"
    priority: int | None = None
    """Overrides the application's priority (0-3)."""


@dataclass(frozen=True)
class RecipientResult:
    to: str
    message_id: str | None
    result: Result
    detail: str | None = None


class SubmitRefused(Exception):
    """The whole request is refused; nothing was stored."""

    def __init__(self, result: Result, detail: str | None = None) -> None:
        super().__init__(f"{result.description}: {detail}" if detail else result.description)
        self.result = result
        self.detail = detail

    def __reduce__(self) -> tuple:
        """Pickled with its result and detail, not only its message (the service link)."""
        return SubmitRefused, (self.result, self.detail)


class Submitter:
    def __init__(
        self,
        engine: Engine,
        writer: Writer,
        clock: Callable[[], datetime],
        metrics: "Metrics | None" = None,
    ) -> None:
        self._metrics = metrics
        self._engine = engine
        self._writer = writer
        self._clock = clock
        self._random = random.Random()

    async def submit(
        self,
        app: App,
        request: SubmitRequest,
        remember: Callable[[list[RecipientResult]], Remembered] | None = None,
    ) -> list[RecipientResult]:
        """Check and store the messages of `request`. `remember` (a request with an idempotency
        key) turns the results into the answer to keep, stored in the same transaction."""
        now = self._clock()
        if not request.text:
            raise SubmitRefused(Result.EMPTY_MESSAGE)
        encoding = request.encoding or parse_encoding(app.config.encoding)
        try:
            encoded = encode_text(request.text, encoding)
        except NotEncodable as error:
            raise SubmitRefused(Result.NOT_ENCODABLE_AS_TEXT, str(error)) from None
        parts = len(split_payload(encoded))
        if parts > app.config.max_parts:
            raise SubmitRefused(
                Result.TOO_MANY_PARTS, f"{parts} parts, at most {app.config.max_parts}"
            )
        sender = self._sender(app, request)
        scheduled, validity = self._times(request, now)
        ended = trial_ended(app, scheduled or now)
        if ended:
            raise SubmitRefused(Result.TRIAL_EXPIRED, ended)
        try:
            entries = split_recipients(request.recipients)
        except TooManyRecipients as error:
            raise SubmitRefused(Result.TOO_MANY_RECIPIENTS, str(error)) from None
        if not entries:
            raise SubmitRefused(Result.MISSING_RECIPIENTS)
        checked = [check_recipient(entry) for entry in entries]
        blocked = await self._blacklisted(app, [c.msisdn for c in checked if c.valid])
        dropped = not within_windows(
            app.config.time_windows, app.config.time_zone, scheduled or now
        )
        results: list[RecipientResult] = []
        rows = []
        for recipient in checked:
            if not recipient.valid:
                results.append(
                    RecipientResult(
                        recipient.msisdn, None, Result.INVALID_NUMBER, recipient.problem
                    )
                )
                continue
            if recipient.msisdn in blocked:
                results.append(RecipientResult(recipient.msisdn, None, Result.BLACKLISTED))
                continue
            if not authorized_in_trial(app, recipient.msisdn):
                results.append(
                    RecipientResult(recipient.msisdn, None, Result.NOT_AUTHORIZED_IN_TRIAL)
                )
                continue
            row = self._row(
                app, request, encoded, parts, sender, recipient, scheduled, validity, dropped, now
            )
            rows.append(row)
            results.append(RecipientResult(recipient.msisdn, row["id"], Result.OK))
        if rows:
            poll: list[dict] = []
            jobs: list[dict] = []
            if dropped:
                for row in rows:
                    row_poll, row_jobs = status_events(row, app, now)
                    poll += row_poll
                    jobs += row_jobs
            sends = not (dropped or request.sandbox)
            priced = charges(app, len(rows), parts * len(rows), scheduled or now) if sends else []
            accepted = (rows, (poll, jobs), [p.charge for p in priced])
            if remember is None:
                refused = await self._writer.write_bulk(message_store.INSERT_ACCEPTED, accepted)
            else:
                refused = await self._writer.write_bulk(
                    INSERT_ACCEPTED_ONCE, (accepted, remember(results))
                )
            if refused is not None:
                raise _over_quota(priced, refused)
        if self._metrics is not None:
            self._count(app, request, results, dropped)
        return results

    def _count(
        self, app: App, request: SubmitRequest, results: list[RecipientResult], dropped: bool
    ) -> None:
        assert self._metrics is not None
        sandbox = request.sandbox
        for result in results:
            if result.message_id:
                self._metrics.count_accepted(app.name, request.front_door, sandbox)
                if dropped:
                    self._metrics.count_status(app.name, "", Status.DROPPED, sandbox)
            else:
                self._metrics.count_refused(app.name, result.result.name.lower(), sandbox)

    def _sender(self, app: App, request: SubmitRequest) -> str | None:
        if request.sender:
            if request.sender in app.numbers:
                return request.sender
            if app.config.alphanumeric_sender and ALPHANUMERIC_SENDER.match(request.sender):
                return request.sender
            raise SubmitRefused(
                Result.INVALID_SENDER, f"{request.sender!r} is not a number of this application"
            )
        if request.sender_id:
            if not app.config.alphanumeric_sender:
                raise SubmitRefused(
                    Result.INVALID_SENDER_ID,
                    "alphanumeric senders are not allowed for this application",
                )
            if not ALPHANUMERIC_SENDER.match(request.sender_id):
                raise SubmitRefused(
                    Result.INVALID_SENDER_ID, "a senderId has 1 to 11 letters, digits or spaces"
                )
            return request.sender_id
        return app.config.default_number

    def _times(self, request: SubmitRequest, now: datetime):
        scheduled = request.time_scheduled
        if scheduled is not None and scheduled < now - SCHEDULE_GRACE:
            raise SubmitRefused(Result.SCHEDULED_IN_THE_PAST)
        if scheduled is not None and scheduled <= now:
            scheduled = None
        try:
            validity = request.time_validity or (scheduled or now) + DEFAULT_VALIDITY
        except OverflowError:  # scheduled in the last days of year 9999
            raise SubmitRefused(Result.INVALID_TIME, "timeScheduled is out of range") from None
        if validity <= (scheduled or now):
            raise SubmitRefused(Result.VALIDITY_BEFORE_SCHEDULE)
        return scheduled, validity

    async def _blacklisted(self, app: App, msisdns: list[str]) -> set[str]:
        if not app.account.blacklist or not msisdns:
            return set()

        def read() -> set[str]:
            with self._engine.connect() as connection:
                return blacklist_store.blacklisted_among(connection, app.account.name, msisdns)

        return await trio.to_thread.run_sync(read)

    def _row(
        self, app, request, encoded, parts, sender, recipient, scheduled, validity, dropped, now
    ) -> dict:
        status = accepted_status(scheduled is not None, dropped)
        webhook = request.status_webhook
        return {
            "id": new_message_id(),
            "account": app.account.name,
            "application": app.name,
            "sandbox": request.sandbox,
            "reference": request.reference,
            "recipient": recipient.msisdn,
            "sender": sender,
            "country": recipient.country,
            "body": encoded.text,
            "encoding": encoded.alphabet.value,
            "number_of_parts": parts,
            "number_of_chars": encoded.number_of_chars,
            "concat_ref": self._random.randrange(256),
            "replace_if_present": request.replace_if_present,
            "status": int(status),
            "status_description": status.description,
            "status_url": webhook.url if webhook else None,
            "status_method": webhook.method if webhook else None,
            "status_format": webhook.format if webhook else None,
            "front_door": request.front_door,
            "time_created": now,
            "time_scheduled": scheduled,
            "time_done": now if dropped else None,
            "validity_until": validity,
            "next_attempt_at": None if dropped else (scheduled or now),
            "attempts": 0,
            "priority": app.config.priority if request.priority is None else request.priority,
        }


def _over_quota(priced: list[Priced], refused: Charge) -> SubmitRefused:
    (over,) = (p for p in priced if p.charge == refused)
    return SubmitRefused(over.result, over.detail)


def reply_row(
    app: App,
    to: str,
    sender: str,
    text: str,
    now: datetime,
    *,
    reference: str,
    carrier: str | None,
) -> dict:
    """A reply the gateway itself sends to an incoming message (STOP/START confirmation, HELP
    text), as a message of `app`: no policy applies, and it goes back through `carrier`, the
    one the incoming message came from (None: the route's)."""
    encoded = encode_text(text, Encoding.AUTO)
    return {
        "id": new_message_id(),
        "account": app.account.name,
        "application": app.name,
        "sandbox": False,
        "reference": reference,
        "pinned_carrier": carrier,
        "recipient": to,
        "sender": sender,
        "country": country_of(to),
        "body": encoded.text,
        "encoding": encoded.alphabet.value,
        "number_of_parts": len(split_payload(encoded)),
        "number_of_chars": encoded.number_of_chars,
        "concat_ref": random.randrange(256),
        "replace_if_present": False,
        "status": int(accepted_status(scheduled=False, dropped=False)),
        "status_description": Status.QUEUED.description,
        "front_door": "system",
        "time_created": now,
        "validity_until": now + DEFAULT_VALIDITY,
        "next_attempt_at": now,
        "attempts": 0,
        "priority": app.config.priority,
    }
