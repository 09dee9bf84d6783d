"""Replaying a client's recorded bytes over a plain socket, and reading the answer the way
that client does: which HTTP statuses it reads a body on, how it splits head from body, and
the types it deserializes each field into (from the clients' own sources)."""

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

RECORDINGS = Path(__file__).parent / "client_recordings"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
BARE_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


@dataclass
class Answer:
    interim: bytes | None  # the 100 Continue head, when the request expected one
    raw: bytes  # everything the client received, interim included
    status: int
    body: bytes


def recording(client: str, call: str) -> bytes:
    return (RECORDINGS / client / f"{call}.http").read_bytes()


def recorded_calls(client: str) -> list[str]:
    return sorted(path.stem for path in (RECORDINGS / client).glob("*.http"))


def recorded_fields(raw: bytes) -> dict[str, Any]:
    """The request's fields by lower-case name: the JSON body, or the GET query string."""
    head, _, body = raw.partition(b"\r\n\r\n")
    if body:
        return {key.lower(): value for key, value in json.loads(body).items()}
    query = head.split(b" ", 2)[1].partition(b"?")[2].decode()
    return {k.lower(): v for k, _, v in (pair.partition("=") for pair in query.split("&"))}


async def _read_head(stream: trio.SocketStream, buffer: bytearray) -> bytes:
    while b"\r\n\r\n" not in buffer:
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise AssertionError(f"connection closed before an answer's head: {bytes(buffer)!r}")
        buffer += chunk
    end = buffer.index(b"\r\n\r\n") + 4
    head = bytes(buffer[:end])
    del buffer[:end]
    return head


async def replay(port: int, raw: bytes) -> Answer:
    """Send `raw` as its client did (head, then body after a 100 Continue if it expects one)."""
    end = raw.index(b"\r\n\r\n") + 4
    head, body = raw[:end], raw[end:]
    expects = b"\r\nexpect: 100-continue\r\n" in head.lower()
    buffer = bytearray()
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(head if expects else raw)
            interim = None
            answer_head = await _read_head(stream, buffer)
            if expects and answer_head.startswith(b"HTTP/1.1 100 "):
                interim = answer_head
                await stream.send_all(body)
                answer_head = await _read_head(stream, buffer)
            length = int(re.search(rb"\r\ncontent-length: *(\d+)", answer_head.lower())[1])
            while len(buffer) < length:
                chunk = await stream.receive_some(65536)
                assert chunk, "connection closed in the middle of the answer's body"
                buffer += chunk
    status = int(answer_head.split(b" ", 2)[1])
    final = answer_head + bytes(buffer[:length])
    return Answer(interim, (interim or b"") + final, status, bytes(buffer[:length]))


def php_reads(answer: Answer) -> dict:
    """RingRing\\Common\\HTTPClient: explode("\\r\\n\\r\\n", $response, 3), skipping a first part
    equal to 'HTTP/1.1 100 Continue'; whatever the status, the body is json_decode'd."""
    parts = answer.raw.split(b"\r\n\r\n", 2)
    head, body = (parts[1], parts[2]) if parts[0] == b"HTTP/1.1 100 Continue" else parts[:2]
    assert head.startswith(b"HTTP/1.1 "), f"the PHP client takes {head[:60]!r} for the head"
    decoded = json.loads(body)
    assert isinstance(decoded, dict), f"the PHP client reads {body[:60]!r} as its answer"
    return decoded


def node_reads(answer: Answer) -> dict:
    """axios: 2xx is the answer; 4xx a thrown error carrying the body (errors); 5xx an
    InternalError that drops the body."""
    assert 200 <= answer.status < 500, f"the Node.js client drops the body of a {answer.status}"
    decoded = json.loads(answer.body)
    assert isinstance(decoded, dict)
    return decoded


def java_reads(answer: Answer, model: dict) -> dict:
    """MessageServiceImpl.post: the body only on 200, 201 and 400 (anything else becomes a
    bare MessageException), then Jackson into the response class."""
    assert answer.status in (200, 201, 400), (
        f"the Java client reads no body on HTTP {answer.status}: a bare technical error"
    )
    decoded = json.loads(answer.body)
    check_types(decoded, model, "java")
    return decoded


def csharp_reads(answer: Answer, model: dict) -> dict:
    """MessageApi.Post: WebClient, and the error response's body on any other status; then
    JsonConvert.DeserializeObject<T>, which throws on null for an int or a Guid."""
    decoded = json.loads(answer.body)
    check_types(decoded, model, "csharp")
    return decoded


# Field types of the clients' response classes. int: a JSON integer (C# int and Guid are
# not nullable: null throws; Java's Integer takes null, its int null as 0). text: a Java or
# C# string, which takes a JSON string, number or null. uuid: java.util.UUID / System.Guid.
INT, INT_OR_NULL, TEXT, UUID_TYPE = "int", "int-or-null", "text", "uuid"


def check_types(value: Any, model: dict, client: str, path: str = "") -> None:
    assert isinstance(value, dict), f"{client}: {path or 'the answer'} is not an object"
    for key, kind in model.items():
        if key not in value:
            continue
        field, where = value[key], f"{path}{key}"
        if isinstance(kind, list):
            assert field is None or isinstance(field, list), f"{client}: {where} is no list"
            for index, item in enumerate(field or []):
                check_types(item, kind[0], client, f"{where}[{index}].")
        elif kind == INT_OR_NULL and client == "java":
            assert field is None or _is_int(field), f"java: {where}={field!r} is no Integer"
        elif kind in (INT, INT_OR_NULL):
            assert _is_int(field), f"{client}: {where}={field!r} is no int"
        elif kind == TEXT:
            assert not isinstance(field, dict | list), f"{client}: {where} is no string"
        elif kind == UUID_TYPE:
            nullable = client == "java"
            assert (field is None and nullable) or (isinstance(field, str) and GUID.match(field)), (
                f"{client}: {where}={field!r} is no UUID"
            )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _fields(*names: str, kind: str = TEXT) -> dict[str, str]:
    return dict.fromkeys(names, kind)


RESULT = {"ResultCode": INT_OR_NULL, "ResultDescription": TEXT}
STATUS_FIELDS = {
    **_fields("MessageId", "Reference", "StatusCode", "StatusDescription", "TimeScheduled"),
    **_fields("TimeSubmitted", "DeliveryTime", "Country", "From", "To", "Message"),
    **_fields("MessageEncoding"),
    **_fields("NumberOfParts", "NumberOfChars", kind=INT),
}
MODELS = {
    "message": {
        **RESULT,
        "MessageCount": INT_OR_NULL,
        "Reference": TEXT,
        "Messages": [{**_fields("MessageId", "To"), **RESULT}],
    },
    "cancel": {**RESULT, "MessageId": UUID_TYPE},
    "status_message": {**RESULT, **STATUS_FIELDS},
    "status": {
        **RESULT,
        **_fields("NumberOfRecords", "RemainingRecords", kind=INT_OR_NULL),
        "StatusMessages": [{**STATUS_FIELDS, **RESULT}],
    },
    "incoming": {
        **RESULT,
        # Java types these two as String; C# as int.
        **_fields("NumberOfRecords", "RemainingRecords", kind=INT),
        "IncomingMessages": [
            _fields("MessageId", "Reference", "From", "To", "Message", "Country", "TimeReceived")
        ],
    },
}


def reads(client: str, answer: Answer, model: str) -> dict:
    """The answer as `client` hands it to its caller (asserting it can)."""
    if client == "php":
        return php_reads(answer)
    if client == "node":
        return node_reads(answer)
    if client == "java":
        return java_reads(answer, MODELS[model])
    return csharp_reads(answer, MODELS[model])
