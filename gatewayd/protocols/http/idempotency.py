"""The `Idempotency-Key` header of POST /sms/v1/Message (and the sandbox), as Stripe and the
IETF draft (draft-ietf-httpapi-idempotency-key-header) name it.

A request with a key that its application used within `http.idempotency_window_s` gets the
first answer again (with `Idempotent-Replayed: true`) and creates no SMS; the same key with
other fields is refused (400, ResultCode 13: IDEMPOTENCY_KEY_REUSED). A key is remembered
only with the messages its request stored, in the same transaction: a request answered with an
error stored nothing, and its retry is a first attempt.
"""

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from gatewayd.core.directory import App
from gatewayd.core.message_service import Remembered
from gatewayd.core.result_codes import Result
from gatewayd.core.submission import RecipientResult
from gatewayd.protocols.http.api_fields import FieldError
from gatewayd.protocols.http.messages import Request, Response

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255
REPLAYED = ("Idempotent-Replayed", "true")


def key_of(request: Request) -> str | None:
    """The request's key: 1 to 255 visible ASCII characters (quotes of a structured-field
    string, as the IETF draft writes it, are taken off)."""
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all("!" <= c <= "~" for c in key):
        raise FieldError(
            Result.INVALID_FIELD, f"Idempotency-Key: 1 to {MAX_KEY_LENGTH} visible ASCII characters"
        )
    return key


def fingerprint(fields: dict[str, Any], sandbox: bool) -> str:
    """What the request asks, whatever its encoding (JSON or form) or key order; the API key
    is left out (the application is part of the key already)."""
    asked = {name: value for name, value in fields.items() if name != "apikey"}
    text = json.dumps([sandbox, asked], sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def replay(remembered: Any, asked: str) -> Response:
    """The first answer again, or a refusal when the key came with another request."""
    if remembered.fingerprint != asked:
        raise FieldError(Result.IDEMPOTENCY_KEY_REUSED, "send other requests with new keys")
    return Response(
        remembered.status_code,
        remembered.response_body.encode(),
        [("Content-Type", "application/json; charset=utf-8"), REPLAYED],
    )


Answer = Callable[[list[RecipientResult]], Response]


def keeper(
    app: App, key: str, asked: str, now: datetime, window: timedelta
) -> Callable[[Answer], Callable[[list[RecipientResult]], Remembered]]:
    """Given how results are answered, the `remember` callback of Submitter.submit: a partial
    of module functions, so that it can be sent (pickled) to the process that stores."""

    def remember(answer: Answer) -> Callable[[list[RecipientResult]], Remembered]:
        return partial(_remembered, app.name, key, asked, now, window, answer)

    return remember


def _remembered(
    application: str,
    key: str,
    asked: str,
    now: datetime,
    window: timedelta,
    answer: Answer,
    results: list[RecipientResult],
) -> Remembered:
    response = answer(results)
    return Remembered(
        application=application,
        key=key,
        fingerprint=asked,
        status_code=response.status,
        response_body=response.body.decode(),
        time_created=now,
        forget_before=now - window,
    )
