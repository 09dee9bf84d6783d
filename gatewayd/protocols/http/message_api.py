"""The Message API v1 (wire-compatible with the RingRing Message API) and its sandbox.

Every request: fields → API key → IP whitelist → debug-mode rate limit → endpoint → answer
(logged, key masked, in debug mode).
"""

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial

from sqlalchemy.exc import IntegrityError

from gatewayd.config.types import http_url_problem
from gatewayd.core.api_times import BadTime, parse_api_time
from gatewayd.core.client_address import allowed_by_whitelist, client_address
from gatewayd.core.directory import App
from gatewayd.core.encoding import parse_encoding
from gatewayd.core.ids import normalized_message_id
from gatewayd.core.masking import mask_body, mask_text
from gatewayd.core.message_service import (
    DEBUG_LIMIT_PER_MINUTE,
    MessageService,
    OutcomeUnknown,
    answering_within,
    is_core_unavailable,
    is_storage_failure,
)
from gatewayd.core.records import status_record
from gatewayd.core.result_codes import Result
from gatewayd.core.submission import RecipientResult, StatusWebhook, SubmitRefused, SubmitRequest
from gatewayd.protocols.http import idempotency
from gatewayd.protocols.http.api_fields import (
    FieldError,
    Fields,
    bool_field,
    int_field,
    read_fields,
    recipients_field,
    text_field,
)
from gatewayd.protocols.http.messages import Request, Response
from gatewayd.protocols.http.routing import Router
from gatewayd.protocols.http.server import NoAnswer

log = logging.getLogger(__name__)

RETRY_AFTER_S = 5
"""Suggested to a client whose message could not be stored (Retry-After)."""
IDEMPOTENCY_KEY = "Idempotency-Key"
"""Where the header's key travels among the Message endpoint's fields (no field has a dash)."""
COMMON = {"apikey"}
MESSAGE_FIELDS = COMMON | {
    "to",
    "message",
    "from",
    "senderid",
    "messageencoding",
    "timescheduled",
    "timevalidity",
    "reference",
    "replaceifpresent",
    "statusurl",
    "statusmethod",
    "statusformat",
}
ID_FIELDS = COMMON | {"messageid"}
POLL_FIELDS = COMMON | {"maxrecords"}

Endpoint = Callable[[App, Fields, bool], Awaitable[Response]]


class MessageApi:
    def __init__(
        self, service: MessageService, count_refusal: Callable[[int], None] | None = None
    ) -> None:
        """`count_refusal(result_code)` is told of every request refused as a whole."""
        self.service = service
        self._count_refusal = count_refusal or (lambda _code: None)

    def add_routes(self, router: Router) -> None:
        endpoints: list[tuple[str, list[str], set[str], Endpoint, bool]] = [
            ("message", ["POST"], MESSAGE_FIELDS, self.message, True),
            ("cancel", ["POST"], ID_FIELDS, self.cancel, True),
            ("statusmessage", ["POST", "GET"], ID_FIELDS, self.status_message, True),
            ("status", ["POST", "GET"], POLL_FIELDS, self.status, True),
            ("incoming", ["POST", "GET"], POLL_FIELDS, self.incoming, False),
        ]
        for name, methods, known, endpoint, has_sandbox in endpoints:
            router.add(f"/sms/v1/{name}", methods, self._wrap(known, endpoint, False))
            if has_sandbox:
                router.add(f"/sms/sandbox/{name}", methods, self._wrap(known, endpoint, True))

    def _wrap(self, known: set[str], endpoint: Endpoint, sandbox: bool):
        async def handle(request: Request) -> Response:
            started = time.monotonic()
            app = None
            try:
                fields = read_fields(request, known)
                app = self._authenticate(request, fields)
                self._check_address(request, app)
                headers = await self._rate_limit(app)
                if endpoint == self.message:
                    fields[IDEMPOTENCY_KEY] = idempotency.key_of(request)
                with answering_within(self.service.config.http.write_timeout_s):
                    response = await endpoint(app, fields, sandbox)
                response.headers.extend(headers)
            except FieldError as error:
                self._count_refusal(int(error.result))
                response = Response.error(error.status, error.result, error.detail)
                if app is not None and app.account.debug:
                    response.headers.extend(await self._standing(app))
            except OutcomeUnknown as error:
                log.warning("%s %s: no answer: %s", request.method, request.path, error)
                raise NoAnswer(str(error)) from None
            except Exception as error:
                if not is_storage_failure(error):
                    raise
                result = Result.STORAGE_UNAVAILABLE
                self._count_refusal(int(result))
                log.warning("%s %s: not stored: %s", request.method, request.path, error)
                retry = [("Retry-After", str(RETRY_AFTER_S))]
                response = Response.error(result.http_status, result, None, retry)
            if app is not None and app.account.debug:
                await self._log(app, request, response, started)
            return response

        return handle

    async def _standing(self, app: App) -> list[tuple[str, str]]:
        """The debug-mode limit's headers for an answer that is an error already (none when
        the core cannot tell)."""
        try:
            return (await self.service.debug_standing(app)).headers()
        except Exception as error:
            if not is_core_unavailable(error):
                raise
            return []

    def _authenticate(self, request: Request, fields: Fields) -> App:
        key = text_field(fields, "apikey", 200, invalid=Result.MISSING_API_KEY)
        if key is None:
            authorization = request.headers.get("authorization", "")
            if authorization[:7].lower() == "bearer ":
                key = authorization[7:].strip()
            else:
                key = request.headers.get("x-api-key")
        if not key:
            raise FieldError(Result.MISSING_API_KEY)
        app = self.service.directory.authenticate(key)
        if app is None:
            raise FieldError(Result.INVALID_API_KEY)
        return app

    def _check_address(self, request: Request, app: App) -> None:
        whitelist = app.account.ip_whitelist
        if not whitelist:
            return
        proxies = self.service.config.http.trusted_proxies
        address = client_address(request.peer, request.headers.get("x-forwarded-for"), proxies)
        if not allowed_by_whitelist(address, whitelist):
            raise FieldError(Result.IP_NOT_ALLOWED, str(address))

    async def _rate_limit(self, app: App) -> list[tuple[str, str]]:
        if not app.account.debug:
            return []
        decision = await self.service.count_debug_request(app)
        if not decision.allowed:
            raise FieldError(
                Result.RATE_LIMITED,
                f"{DEBUG_LIMIT_PER_MINUTE} requests a minute in debug mode",
            )
        return decision.headers()

    async def _log(self, app: App, request: Request, response: Response, started: float) -> None:
        path = request.path + (
            f"?{mask_text(request.query_string)}" if request.query_string else ""
        )
        entry = {
            "account": app.account.name,
            "application": app.name,
            "time_created": self.service.clock(),
            "client_ip": request.peer,
            "method": request.method,
            "path": path[:2000],
            "status_code": response.status,
            "request_body": mask_body(request.body)[:65_536],
            "response_body": response.body.decode("utf-8", "replace")[:65_536],
            "duration_ms": int((time.monotonic() - started) * 1000),
        }
        try:
            with answering_within(self.service.config.http.write_timeout_s):
                await self.service.log_request(entry)
        except Exception as error:
            if not is_core_unavailable(error):
                raise
            log.warning("request log of %s not stored: %s", app.name, error)

    async def message(self, app: App, fields: Fields, sandbox: bool) -> Response:
        key = fields.pop(IDEMPOTENCY_KEY, None)
        if key is None:
            return await self._message(app, fields, sandbox, None)
        asked = idempotency.fingerprint(fields, sandbox)
        now = self.service.clock()
        window = timedelta(seconds=self.service.config.http.idempotency_window_s)
        remembered = await self.service.recall(app, key, now - window)
        if remembered is not None:
            return idempotency.replay(remembered, asked)
        try:
            keeper = idempotency.keeper(app, key, asked, now, window)
            return await self._message(app, fields, sandbox, keeper)
        except IntegrityError:
            # The same key in a request that was stored meanwhile: answer as it was answered.
            remembered = await self.service.recall(app, key, now - window)
            if remembered is None:
                raise
            return idempotency.replay(remembered, asked)

    async def _message(
        self, app: App, fields: Fields, sandbox: bool, keeper: Callable | None
    ) -> Response:
        zone = app.config.time_zone
        try:
            scheduled = _time(fields, "timescheduled", zone)
            validity = _time(fields, "timevalidity", zone)
            encoding = fields.get("messageencoding")
            submit = SubmitRequest(
                recipients=recipients_field(fields),
                text=text_field(fields, "message", 100_000, too_long=Result.MESSAGE_TOO_LONG),
                sender=text_field(fields, "from", 21, invalid=Result.MALFORMED_SENDER),
                sender_id=text_field(fields, "senderid", 21, invalid=Result.INVALID_SENDER_ID),
                encoding=parse_encoding(encoding) if encoding not in (None, "") else None,
                time_scheduled=scheduled,
                time_validity=validity,
                reference=text_field(fields, "reference", 255, too_long=Result.REFERENCE_TOO_LONG),
                replace_if_present=bool_field(fields, "replaceifpresent"),
                status_webhook=_status_webhook(fields),
                sandbox=sandbox,
            )
        except ValueError as error:
            raise FieldError(Result.INVALID_FIELD, str(error)) from None
        answer = partial(_message_answer, submit)
        remember = keeper(answer) if keeper is not None else None
        try:
            results = await self.service.submit(app, submit, remember)
        except SubmitRefused as refused:
            raise FieldError(refused.result, refused.detail) from None
        return answer(results)

    async def cancel(self, app: App, fields: Fields, sandbox: bool) -> Response:
        message_id = self._message_id(fields)
        result, detail = await self.service.cancel(app, message_id, sandbox)
        return Response.json(
            {
                "MessageId": message_id,
                "ResultCode": int(result),
                "ResultDescription": _describe(result, detail),
            },
            result.http_status,
        )

    async def status_message(self, app: App, fields: Fields, sandbox: bool) -> Response:
        message_id = self._message_id(fields)
        row = await self.service.message(app, message_id, sandbox)
        if row is None:
            raise FieldError(Result.MESSAGE_NOT_FOUND, message_id)
        return Response.json(status_record(row._mapping, app.config.time_zone))

    async def status(self, app: App, fields: Fields, sandbox: bool) -> Response:
        return await self._poll(app, fields, "status", "StatusMessages", sandbox)

    async def incoming(self, app: App, fields: Fields, sandbox: bool) -> Response:
        return await self._poll(app, fields, "incoming", "IncomingMessages", sandbox)

    async def _poll(self, app: App, fields: Fields, kind: str, key: str, sandbox: bool) -> Response:
        limit = int_field(
            fields,
            "maxrecords",
            100,
            1,
            1000,
            malformed=Result.MALFORMED_MAX_RECORDS,
            out_of_range=Result.MAX_RECORDS_OUT_OF_RANGE,
        )
        records, remaining = await self.service.poll(app, kind, sandbox, limit)
        return Response.json(
            {
                key: records,
                "NumberOfRecords": len(records),
                "RemainingRecords": remaining,
                "ResultCode": int(Result.OK),
                "ResultDescription": Result.OK.description,
            }
        )

    @staticmethod
    def _message_id(fields: Fields) -> str:
        message_id = text_field(fields, "messageid", 64, invalid=Result.INVALID_MESSAGE_ID)
        if message_id is None:
            raise FieldError(Result.INVALID_MESSAGE_ID, f"no {fields.spelt('messageid')} given")
        normalized = normalized_message_id(message_id)
        if normalized is None:
            raise FieldError(
                Result.INVALID_MESSAGE_ID, f"{fields.spelt('messageid')} is not a GUID"
            )
        return normalized


def _time(fields: Fields, name: str, zone):
    invalid = Result.INVALID_TIME if name == "timescheduled" else Result.INVALID_VALIDITY
    text = text_field(fields, name, 40, invalid=invalid)
    if text is None:
        return None
    try:
        return parse_api_time(text, zone)
    except BadTime as error:
        raise FieldError(invalid, f"{fields.spelt(name)}: {error}") from None


def _status_webhook(fields: Fields) -> StatusWebhook | None:
    url = text_field(fields, "statusurl", 2000, invalid=Result.INVALID_STATUS_URL)
    if url is None:
        return None
    problem = http_url_problem(url)
    if problem is not None:
        raise FieldError(
            Result.INVALID_STATUS_URL,
            f"{fields.spelt('statusurl')} must be an http(s) URL: {problem}",
        )
    method = text_field(fields, "statusmethod", 4, invalid=Result.INVALID_STATUS_METHOD)
    if (method or "POST").upper() not in ("POST", "GET"):
        raise FieldError(Result.INVALID_STATUS_METHOD, f"{fields.spelt('statusmethod')}: POST|GET")
    form = text_field(fields, "statusformat", 4, invalid=Result.INVALID_STATUS_FORMAT)
    if (form or "JSON").upper() not in ("JSON", "XML"):
        raise FieldError(Result.INVALID_STATUS_FORMAT, f"{fields.spelt('statusformat')}: JSON|XML")
    return StatusWebhook(url, (method or "POST").upper(), (form or "JSON").upper())


def _common_refusal(results: list[RecipientResult]) -> Result:
    """The answer's own ResultCode when no recipient was accepted: their reason if they share
    one (a lone blacklisted recipient makes the answer "Number To Blacklisted"), else "no valid
    recipient"."""
    reasons = {r.result for r in results}
    return reasons.pop() if len(reasons) == 1 else Result.NO_RECIPIENT


def _describe(result: Result, detail: str | None) -> str:
    return f"{result.description}: {detail}" if detail else result.description


def _message_answer(submit: SubmitRequest, results: list[RecipientResult]) -> Response:
    accepted = [r for r in results if r.message_id]
    overall = Result.OK if accepted else _common_refusal(results)
    return Response.json(
        {
            "MessageCount": len(accepted),
            "Reference": submit.reference,
            "Messages": [
                {
                    "MessageId": r.message_id,
                    "To": r.to,
                    "ResultCode": int(r.result),
                    "ResultDescription": _describe(r.result, r.detail),
                }
                for r in results
            ],
            "ResultCode": int(overall),
            "ResultDescription": overall.description,
        },
        overall.http_status,
    )
