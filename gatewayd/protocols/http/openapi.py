"""The OpenAPI 3.0 description of the Message API, served at /openapi.json.

Checked against the running server by schemathesis in the tests (tests/api/test_openapi.py):
what it says must be what the server does.
"""

from typing import Any

from gatewayd.core.result_codes import Result
from gatewayd.core.statuses import Status

_RESULT = {
    "ResultCode": {
        "type": "integer",
        "enum": sorted({int(r) for r in Result}),
        "description": "RingRing's ResultCode (0 = success); the README lists each",
    },
    "ResultDescription": {"type": "string"},
}
_ERROR = {"type": "object", "required": list(_RESULT), "properties": _RESULT}
_NULLABLE_STRING = {"type": "string", "nullable": True}
_MESSAGE_ID = {
    "type": "string",
    "format": "uuid",
    "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    "description": "a GUID, as RingRing's clients read it",
}
_TIME = {
    "type": "string",
    "pattern": r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$",
    "description": "yyyy-MM-dd HH:mm:ss in the application's time zone",
}
_NULLABLE_TIME = _TIME | {"nullable": True}
_STATUS_RECORD = {
    "type": "object",
    "properties": {
        "MessageId": _MESSAGE_ID,
        "Reference": _NULLABLE_STRING,
        "StatusCode": {
            "type": "string",
            "enum": [status.code for status in Status],
            "description": "a string, as RingRing sends it; the README's table says each",
        },
        "StatusDescription": {"type": "string"},
        "TimeScheduled": _NULLABLE_TIME,
        "TimeSubmitted": _NULLABLE_TIME,
        "DeliveryTime": _NULLABLE_TIME,
        "Country": _NULLABLE_STRING,
        "From": _NULLABLE_STRING,
        "To": {"type": "string"},
        "Message": {"type": "string"},
        "MessageEncoding": {"type": "string", "enum": ["TEXT", "UNICODE"]},
        "NumberOfParts": {"type": "integer"},
        "NumberOfChars": {"type": "integer"},
        **_RESULT,
    },
}
_INCOMING_RECORD = {
    "type": "object",
    "properties": {
        "MessageId": _MESSAGE_ID,
        "Reference": {
            **_NULLABLE_STRING,
            "description": "that of the last message the application sent to this user",
        },
        "From": {"type": "string"},
        "To": {"type": "string"},
        "Message": {"type": "string"},
        "Country": _NULLABLE_STRING,
        "TimeReceived": _TIME,
    },
}
_API_KEY = {"apiKey": {"type": "string", "description": "or Authorization: Bearer / X-Api-Key"}}
_MESSAGE_REQUEST = {
    "type": "object",
    "properties": {
        **_API_KEY,
        "to": {"type": "string", "description": "MSISDNs, comma separated, at most 1000"},
        "message": {"type": "string"},
        "from": {"type": "string"},
        "senderId": {"type": "string"},
        "messageEncoding": {"type": "string", "enum": ["Text", "Unicode", "Auto", "0", "8"]},
        "timeScheduled": {"type": "string", "description": "dd-MM-yyyy HH:mm or ISO 8601"},
        "timeValidity": {"type": "string"},
        "reference": {"type": "string"},
        "replaceIfPresent": {"type": "boolean"},
        "statusUrl": {"type": "string"},
        "statusMethod": {"type": "string", "enum": ["POST", "GET"]},
        "statusFormat": {"type": "string", "enum": ["JSON", "XML"]},
    },
}
_MESSAGE_RESPONSE = {
    "type": "object",
    "required": ["MessageCount", "Messages", *_RESULT],
    "properties": {
        "MessageCount": {"type": "integer"},
        "Reference": _NULLABLE_STRING,
        "Messages": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "MessageId": _MESSAGE_ID | {"nullable": True},
                    "To": {"type": "string"},
                    **_RESULT,
                },
            },
        },
        **_RESULT,
    },
}
_ID_REQUEST = {
    "type": "object",
    "properties": {
        **_API_KEY,
        "messageId": {
            "type": "string",
            "description": "a GUID, with or without dashes, any case",
        },
    },
}
_POLL_REQUEST = {
    "type": "object",
    "properties": {**_API_KEY, "maxRecords": {"type": "integer", "minimum": 1, "maximum": 1000}},
}


def _poll_response(key: str, record: dict) -> dict:
    return {
        "type": "object",
        "required": [key, "NumberOfRecords", "RemainingRecords"],
        "properties": {
            key: {"type": "array", "items": record},
            "NumberOfRecords": {"type": "integer"},
            "RemainingRecords": {"type": "integer"},
            **_RESULT,
        },
    }


_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A key of the client's choosing (1 to 255 visible ASCII characters) that "
    "makes a retry safe: a request with a key this application used within "
    "http.idempotency_window_s (default 24 h) gets the first answer again, with the header "
    "Idempotent-Replayed: true, and sends no second SMS. The same key with other fields is "
    "refused with 400 (ResultCode 13). A request answered with an error stored nothing and is "
    "not remembered. 500 (ResultCode 1, with Retry-After): the message could not be stored in "
    "time; nothing was stored, send it again.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


# RingRing's statuses: a client reads the body of a 400; 403 is forbidden or throttled.
_ERRORS = {
    400: "refused; ResultCode and ResultDescription say why (wrong key, unknown message, a body "
    "over the size limit, ...)",
    403: "IP Address denied (ResultCode 15) or X-RateLimit reached (30, with Retry-After)",
    500: "Internal error (ResultCode 1): nothing of the request was stored; with Retry-After "
    "when the database refused the write or did not take it in time",
}


def _operation(summary: str, request: dict | None, ok: dict) -> dict:
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": {"200": {"description": "success", "content": _json(ok)}}
        | {
            str(code): {"description": description, "content": _json(_ERROR)}
            for code, description in _ERRORS.items()
        },
    }
    if request is not None:
        operation["requestBody"] = {"required": False, "content": _json(request)}
    return operation


def _query(properties: dict) -> list[dict]:
    return [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
        for name in properties
    ]


def openapi_document() -> dict:
    paths: dict[str, Any] = {}
    for base in ("v1", "sandbox"):
        prefix = f"/sms/{base}"
        paths[f"{prefix}/Message"] = {
            "post": _operation(
                "Send a message to one or more recipients",
                _MESSAGE_REQUEST,
                _MESSAGE_RESPONSE,
            )
            | {"parameters": [_IDEMPOTENCY_KEY]}
        }
        paths[f"{prefix}/Cancel"] = {
            "post": _operation(
                "Cancel a scheduled message",
                _ID_REQUEST,
                _ERROR | {"properties": {"MessageId": _MESSAGE_ID, **_RESULT}},
            )
        }
        status_message = _operation("The status of one message", _ID_REQUEST, _STATUS_RECORD)
        get_status = {k: v for k, v in status_message.items() if k != "requestBody"}
        paths[f"{prefix}/StatusMessage"] = {
            "post": status_message,
            "get": get_status | {"parameters": _query(_ID_REQUEST["properties"])},
        }
        status = _operation(
            "Status updates not fetched before",
            _POLL_REQUEST,
            _poll_response("StatusMessages", _STATUS_RECORD),
        )
        paths[f"{prefix}/Status"] = {
            "post": status,
            "get": {k: v for k, v in status.items() if k != "requestBody"}
            | {"parameters": _query(_POLL_REQUEST["properties"])},
        }
    incoming = _operation(
        "Incoming messages not fetched before",
        _POLL_REQUEST,
        _poll_response("IncomingMessages", _INCOMING_RECORD),
    )
    paths["/sms/v1/Incoming"] = {
        "post": incoming,
        "get": {k: v for k, v in incoming.items() if k != "requestBody"}
        | {"parameters": _query(_POLL_REQUEST["properties"])},
    }
    paths["/healthz"] = {
        "get": {"summary": "The process runs", "responses": {"200": {"description": "alive"}}}
    }
    paths["/readyz"] = {
        "get": {
            "summary": "Configuration loaded and database answering",
            "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}},
        }
    }
    paths["/webhooks/source-addresses"] = {
        "get": {
            "summary": "The addresses webhooks are sent from",
            "responses": {
                "200": {
                    "description": "the addresses",
                    "content": _json(
                        {
                            "type": "object",
                            "properties": {
                                "SourceAddresses": {"type": "array", "items": {"type": "string"}}
                            },
                        }
                    ),
                }
            },
        }
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "gatewayd Message API",
            "version": "1",
            "description": "Wire-compatible with the RingRing Message API. Paths and "
            "JSON keys are case-insensitive.",
        },
        "paths": paths,
    }
