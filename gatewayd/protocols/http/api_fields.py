"""Reading a Message API request: JSON, form or query fields, keys case-insensitive.

Clients spell keys differently (apiKey / ApiKey, messageId / messageID / MessageId, statusUrl
/ statusURL), so keys are compared in lower case; errors name a field as the client spelt it.
A key no endpoint knows is refused with a suggestion, because a misspelt optional field would
otherwise be silently ignored.
"""

import difflib
import json
from typing import Any
from urllib.parse import parse_qsl

from gatewayd.core.result_codes import Result
from gatewayd.protocols.http.messages import Request

# How errors name a field the client did not send.
SPELLINGS = {
    name.lower(): name
    for name in (
        "apiKey",
        "to",
        "message",
        "from",
        "senderId",
        "messageEncoding",
        "timeScheduled",
        "timeValidity",
        "reference",
        "replaceIfPresent",
        "statusUrl",
        "statusMethod",
        "statusFormat",
        "messageId",
        "maxRecords",
    )
}


class FieldError(Exception):
    """A refused request: its Result, gatewayd's detail, and the HTTP status (by default the
    Result's own)."""

    def __init__(self, result: Result, detail: str | None = None, status: int | None = None):
        super().__init__(detail or result.description)
        self.status = status or result.http_status
        self.result = result
        self.detail = detail


class Fields(dict[str, Any]):
    """The request's values by lower-case key, remembering how the client spelt each key."""

    def __init__(self, values: dict[str, Any], spellings: dict[str, str]) -> None:
        super().__init__(values)
        self.spellings = spellings

    def spelt(self, name: str) -> str:
        return self.spellings.get(name) or SPELLINGS.get(name, name)


def read_fields(request: Request, known: set[str]) -> Fields:
    """The request's fields by lower-case key; null values are dropped (they mean default)."""
    pairs = list(request.query.items())
    if request.method == "POST" and request.body.strip():
        pairs += _body_fields(request)
    values = {key.lower(): value for key, value in pairs}
    spellings = {key.lower(): key for key, _ in pairs}
    unknown = sorted(set(values) - known)
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.7)
        hint = f"; did you mean {SPELLINGS.get(close[0], close[0])!r}?" if close else ""
        raise FieldError(Result.UNKNOWN_FIELD, f"{spellings[name]!r}{hint}")
    return Fields({k: v for k, v in values.items() if v is not None}, spellings)


def _body_fields(request: Request) -> list[tuple[str, Any]]:
    kind = request.content_type
    if (
        kind in ("application/json", "text/json", "")
        or kind.endswith("+json")
        or (
            # `curl -d '…'` labels whatever it sends a form; a form never starts like JSON.
            kind == "application/x-www-form-urlencoded" and request.body.lstrip()[:1] in b'{["'
        )
    ):
        return _json_fields(request.body)
    if kind == "application/x-www-form-urlencoded":
        return _form_fields(request.body)
    raise FieldError(Result.UNSUPPORTED_MEDIA_TYPE, f"{kind}; send application/json or a form")


def _json_fields(body: bytes) -> list[tuple[str, Any]]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:  # too deep a nesting
        raise FieldError(Result.MALFORMED_REQUEST, f"invalid JSON: {error}") from None
    if not isinstance(data, dict):
        raise FieldError(
            Result.MALFORMED_REQUEST, f"the body must be a JSON object, not {_kind(data)}"
        )
    problem = _text_problem(data)
    if problem is not None:
        raise FieldError(Result.MALFORMED_REQUEST, f"invalid JSON: {problem}")
    return [(str(key), value) for key, value in data.items()]


def _form_fields(body: bytes) -> list[tuple[str, Any]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise FieldError(Result.MALFORMED_REQUEST, "the form is not UTF-8") from None
    if any("=" not in part for part in text.strip().split("&") if part):
        raise FieldError(
            Result.MALFORMED_REQUEST,
            "the body is neither a JSON object nor a form (name=value&…)",
        )
    return parse_qsl(text.strip(), keep_blank_values=True)


def _text_problem(data: dict[str, Any]) -> str | None:
    """JSON can carry half a UTF-16 pair, escaped ("\\ud800") or as raw bytes (json.loads
    decodes bytes with surrogatepass): such a string is no text, and would fail wherever it
    is encoded later (GSM/UCS-2, the database, an answer)."""
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "half a surrogate pair"
    except RecursionError:  # parsed just within the limit, one call deeper is too deep
        return "nested too deeply"
    return None


def _kind(value: Any) -> str:
    """A JSON value's type as the client wrote it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "a string"


def text_field(
    fields: Fields,
    name: str,
    max_length: int = 10_000,
    invalid: Result = Result.INVALID_FIELD,
    too_long: Result | None = None,
) -> str | None:
    """A text value; `invalid` is the Result for a value that is no string, `too_long` (by
    default `invalid`) for one over `max_length`."""
    value = fields.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise FieldError(invalid, f"{fields.spelt(name)} must be a string, not {_kind(value)}")
    if "\x00" in value:  # PostgreSQL text cannot hold it
        raise FieldError(invalid, f"{fields.spelt(name)} contains a NUL character")
    if len(value) > max_length:
        raise FieldError(
            too_long or invalid, f"{fields.spelt(name)} is longer than {max_length} characters"
        )
    return value


def bool_field(fields: Fields, name: str) -> bool:
    value = fields.get(name)
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise FieldError(Result.INVALID_FIELD, f"{fields.spelt(name)} must be true/false or 1/0")


def int_field(
    fields: Fields,
    name: str,
    default: int,
    low: int,
    high: int,
    malformed: Result = Result.INVALID_FIELD,
    out_of_range: Result = Result.INVALID_FIELD,
) -> int:
    value = fields.get(name)
    if value is None or value == "":
        return default
    try:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError
        number = int(str(value).strip())
    except ValueError:
        raise FieldError(malformed, f"{fields.spelt(name)} must be a whole number") from None
    if not low <= number <= high:
        raise FieldError(out_of_range, f"{fields.spelt(name)} must be from {low} to {high}")
    return number


def recipients_field(fields: Fields) -> str | list[str] | None:
    value = fields.get("to")
    if value is None:
        return None
    name = fields.spelt("to")
    if isinstance(value, list):
        if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
            raise FieldError(Result.INVALID_RECIPIENTS, f"{name} must be numbers")
        return [str(v) for v in value]
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    raise FieldError(
        Result.INVALID_RECIPIENTS, f"{name} must be a comma-separated string of numbers"
    )
