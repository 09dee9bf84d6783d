"""Reading a Message API request: JSON, form or query fields, keys case-insensitive.

Clients spell keys differently (apiKey / ApiKey, messageId / messageID / MessageId, statusUrl
/ statusURL), so keys are compared in lower case. A key no endpoint knows is refused with a
suggestion, because a misspelt optional field would otherwise be silently ignored.
"""

import difflib
import json
from typing import Any
from urllib.parse import parse_qsl

from gatewayd.core.result_codes import Result
from gatewayd.protocols.http.messages import Request


class FieldError(Exception):
    def __init__(self, status: int, result: Result, detail: str | None = None) -> None:
        super().__init__(detail or result.description)
        self.status = status
        self.result = result
        self.detail = detail


def read_fields(request: Request, known: set[str]) -> dict[str, Any]:
    """The request's fields by lower-case key; null values are dropped (they mean default)."""
    fields: dict[str, Any] = {}
    for key, value in request.query.items():
        fields[key.lower()] = value
    if request.method == "POST" and request.body.strip():
        fields.update(_body_fields(request))
    unknown = sorted(set(fields) - known)
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.7)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise FieldError(400, Result.UNKNOWN_FIELD, f"{name!r}{hint}")
    return {key: value for key, value in fields.items() if value is not None}


def _body_fields(request: Request) -> dict[str, Any]:
    kind = request.content_type
    looks_like_json = request.body.lstrip()[:1] == b"{"
    if (
        kind in ("application/json", "text/json", "")
        or kind.endswith("+json")
        or (
            # `curl -d '{…}'` labels JSON as a form; a form never starts with '{'.
            kind == "application/x-www-form-urlencoded" and looks_like_json
        )
    ):
        try:
            data = json.loads(request.body)
        except (ValueError, UnicodeDecodeError, RecursionError) as error:  # too deep a nesting
            raise FieldError(400, Result.MALFORMED_REQUEST, f"invalid JSON: {error}") from None
        if not isinstance(data, dict):
            raise FieldError(400, Result.MALFORMED_REQUEST, "the JSON body must be an object")
        problem = _text_problem(data)
        if problem is not None:
            raise FieldError(400, Result.MALFORMED_REQUEST, f"invalid JSON: {problem}")
        return {str(key).lower(): value for key, value in data.items()}
    if kind == "application/x-www-form-urlencoded":
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise FieldError(400, Result.MALFORMED_REQUEST, "the form is not UTF-8") from None
        return {key.lower(): value for key, value in parse_qsl(text, keep_blank_values=True)}
    raise FieldError(415, Result.UNSUPPORTED_MEDIA_TYPE, f"{kind}; send application/json or a form")


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


def text_field(fields: dict[str, Any], name: str, max_length: int = 10_000) -> str | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FieldError(400, Result.INVALID_FIELD, f"{name} must be a string")
    text = str(value)
    if "\x00" in text:  # PostgreSQL text cannot hold it
        raise FieldError(400, Result.INVALID_FIELD, f"{name} contains a NUL character")
    if len(text) > max_length:
        raise FieldError(400, Result.INVALID_FIELD, f"{name} is longer than {max_length}")
    return text


def bool_field(fields: dict[str, Any], name: str) -> bool:
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
    raise FieldError(400, Result.INVALID_FIELD, f"{name} must be true/false or 1/0")


def int_field(fields: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = fields.get(name)
    if value is None or value == "":
        return default
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(str(value).strip())
    except ValueError:
        raise FieldError(400, Result.INVALID_FIELD, f"{name} must be a whole number") from None
    if not low <= number <= high:
        raise FieldError(400, Result.INVALID_FIELD, f"{name} must be from {low} to {high}")
    return number


def recipients_field(fields: dict[str, Any]) -> str | list[str] | None:
    value = fields.get("to")
    if value is None:
        return None
    if isinstance(value, list):
        if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
            raise FieldError(400, Result.INVALID_FIELD, "to must be numbers")
        return [str(v) for v in value]
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    raise FieldError(400, Result.INVALID_FIELD, "to must be a comma-separated string of numbers")
