"""The HTTP request a webhook becomes: POST or GET, JSON or XML, RingRing's field names."""

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit
from xml.sax.saxutils import escape

ROOT_ELEMENTS = {"status": "MessageStatus", "incoming": "IncomingMessage"}


@dataclass(frozen=True)
class WebhookRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


def build_request(
    kind: str, method: str, form: str, url: str, record: dict[str, Any]
) -> WebhookRequest:
    if method.upper() == "GET":
        parts = urlsplit(url)
        query = urlencode({k: "" if v is None else v for k, v in record.items()})
        joined = f"{parts.query}&{query}" if parts.query else query
        return WebhookRequest("GET", urlunsplit(parts._replace(query=joined)), {}, b"")
    if form.upper() == "XML":
        return WebhookRequest(
            "POST",
            url,
            {"Content-Type": "application/xml; charset=utf-8"},
            to_xml(ROOT_ELEMENTS[kind], record),
        )
    body = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
    return WebhookRequest("POST", url, {"Content-Type": "application/json; charset=utf-8"}, body)


def to_xml(root: str, record: dict[str, Any]) -> bytes:
    children = "".join(
        f"<{key}/>" if value is None else f"<{key}>{escape(_text(value))}</{key}>"
        for key, value in record.items()
    )
    return f'<?xml version="1.0" encoding="utf-8"?><{root}>{children}</{root}>'.encode()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
