"""Helpers for the fuzzing scenario: hypothesis settings, a hang guard, raw socket exchanges,
and strategies for SMPP byte streams and for HTTP requests to the Message API.

Hypothesis runs its examples in a worker thread (`run_examples`) while the gateway under test
keeps running in the test's trio loop; each example talks to it with `trio.from_thread.run`.
One gateway thus lives through every example, as a daemon lives through every client.

The examples are derandomized (the same inputs on every run, so CI is stable);
GATEWAYD_FUZZ_EXAMPLES=N runs N random examples per property instead, for a longer hunt.
"""

import json
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import hypothesis
import trio
from hypothesis import strategies as st
from smpplib import command_codes

from gatewayd.protocols.smpp import codec

HUNT_EXAMPLES = int(os.environ.get("GATEWAYD_FUZZ_EXAMPLES", "0"))
EXCHANGE_TIMEOUT_S = 5.0


def fuzz_settings(max_examples: int) -> hypothesis.settings:
    """Fixed examples for CI; many random ones when GATEWAYD_FUZZ_EXAMPLES is set."""
    return hypothesis.settings(
        max_examples=HUNT_EXAMPLES or max_examples,
        derandomize=not HUNT_EXAMPLES,
        database=None,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )


@dataclass
class ExampleCount:
    """How many examples a property ran (shrinking included), for the figures."""

    count: int = 0

    def tick(self) -> None:
        self.count += 1


class Hung(Exception):
    """A call did not return within its time limit."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the code inside (main thread, outside trio) with Hung after `seconds`."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise Hung(f"still running after {seconds}s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


async def run_examples(property_test: Callable[[], None]) -> None:
    """Run a @given-decorated function in a worker thread; its examples reach the trio loop
    through `trio.from_thread.run`."""
    await trio.to_thread.run_sync(property_test)


async def exchange(port: int, data: bytes, timeout_s: float = EXCHANGE_TIMEOUT_S) -> bytes:
    """Send `data`, close our sending side, and return everything the server answers until
    it closes the connection. A server that neither answers nor closes in time fails."""
    received = bytearray()
    with trio.fail_after(timeout_s):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            # The server may close first (it refused what it had read): read its answer anyway.
            with suppress(trio.BrokenResourceError):
                await stream.send_all(data)
                await stream.send_eof()
            while True:
                try:
                    chunk = await stream.receive_some(65536)
                except trio.BrokenResourceError:
                    break  # reset after the server closed: what came before is the answer
                if not chunk:
                    break
                received += chunk
    return bytes(received)


# --- SMPP byte streams ---------------------------------------------------------------------

COMMAND_IDS = sorted(command_codes.commands.values())
_C_TEXT = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=15)
_OCTET = st.integers(0, 255)
_SEQUENCE = st.integers(1, 0x7FFFFFFF)


def _pdu(command: str, **fields: st.SearchStrategy) -> st.SearchStrategy[bytes]:
    return st.builds(
        lambda sequence, values: codec.encode(command, sequence, **values),
        _SEQUENCE,
        st.fixed_dictionaries(fields),
    )


def valid_pdus() -> st.SearchStrategy[bytes]:
    """Well-formed PDUs of the commands SMPP peers send, with drawn field values."""
    message = {
        "source_addr": _C_TEXT,
        "destination_addr": _C_TEXT,
        "esm_class": _OCTET,
        "data_coding": _OCTET,
        "registered_delivery": st.integers(0, 3),
        "short_message": st.binary(max_size=200),
    }
    sar = {
        "sar_msg_ref_num": st.integers(0, 0xFFFF),
        "sar_total_segments": _OCTET,
        "sar_segment_seqnum": _OCTET,
    }
    return st.one_of(
        _pdu("bind_transceiver", system_id=_C_TEXT, password=_C_TEXT, interface_version=_OCTET),
        _pdu("bind_transmitter", system_id=_C_TEXT, password=_C_TEXT),
        _pdu("submit_sm", **message),
        _pdu("submit_sm", **message, **sar),
        _pdu("deliver_sm", **message, receipted_message_id=_C_TEXT, message_state=_OCTET),
        _pdu("submit_sm_resp", message_id=_C_TEXT),
        _pdu("enquire_link"),
        _pdu("unbind"),
        _pdu("generic_nack"),
    )


def header(length: int, command_id: int, status: int = 0, sequence: int = 1) -> bytes:
    return codec.HEADER.pack(length, command_id, status, sequence)


def with_length(frame: bytes) -> bytes:
    """`frame` with its command_length set to its real size (a self-consistent frame)."""
    return header(len(frame), *codec.HEADER.unpack_from(frame)[1:]) + frame[codec.HEADER_SIZE :]


@st.composite
def truncated_pdus(draw: st.DrawFn) -> bytes:
    """A valid PDU cut short, its command_length either fixed up or still the full size."""
    whole = draw(valid_pdus())
    cut = draw(st.integers(codec.HEADER_SIZE, len(whole)))
    frame = whole[:cut]
    return with_length(frame) if draw(st.booleans()) else frame


@st.composite
def garbage_bodies(draw: st.DrawFn) -> bytes:
    """A self-consistent header (known or unknown command) followed by random bytes."""
    command_id = draw(st.sampled_from(COMMAND_IDS) | st.integers(0, 0xFFFFFFFF))
    body = draw(st.binary(max_size=300))
    sequence = draw(st.integers(0, 0xFFFFFFFF))
    status = draw(st.integers(0, 3))
    return header(codec.HEADER_SIZE + len(body), command_id, status, sequence) + body


def bad_lengths() -> st.SearchStrategy[bytes]:
    """A header whose command_length cannot be framed: below 16 or far above any limit."""
    length = st.integers(0, codec.HEADER_SIZE - 1) | st.integers(10_000_000, 0xFFFFFFFF)
    return st.builds(
        lambda n, command_id, tail: header(n, command_id) + tail,
        length,
        st.sampled_from(COMMAND_IDS),
        st.binary(max_size=64),
    )


def smpp_frames() -> st.SearchStrategy[bytes]:
    """One thing a broken or hostile SMPP peer might send."""
    return st.one_of(
        valid_pdus(),
        truncated_pdus(),
        garbage_bodies(),
        bad_lengths(),
        st.binary(max_size=300),
    )


# --- HTTP requests -------------------------------------------------------------------------

API_PATHS = [
    "/sms/v1/Message",
    "/sms/V1/message",
    "/sms/sandbox/Message",
    "/sms/v1/Cancel",
    "/sms/v1/StatusMessage",
    "/sms/v1/Status",
    "/sms/v1/Incoming",
    "/sms/sandbox/StatusMessage",
    "/healthz",
    "/openapi.json",
    "/webhooks/source-addresses",
]
TIMES = [
    "01-01-2030 10:00", "2030-01-01T10:00:00Z", "01-01-0001 00:00", "31-12-9999 23:59",
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "29-02-2023 10:00",
    "01-01-2030 24:00", "2030-01-01T10:00:00+25:00", "10:00", "1-1-1 1:1",
]  # fmt: skip
NUMBERS = [
    "32470000001",
    "32470000001,32470000002",
    "+32 470 00 00 01",
    "0032470000001",
    "8686",
    "١٢٣٤٥٦٧٨٩٠١",
    "1" * 16,
    ",,,",
    "-1",
    "1e3",
    "0x10",
    "99999999999999999999",
]
TEXTS = ["", " ", "\ud800", "\x00", "\u200b", "€" * 500, "😀" * 200, "x" * 2000, "{}"]
FIELD_VALUES: dict[str, list[object]] = {
    "apiKey": ["", "sha256:00", "x" * 300],
    "to": NUMBERS,
    "message": TEXTS,
    "from": [*NUMBERS, "Shop", "", "x" * 30],
    "senderId": ["Shop", "A" * 12, "é", ""],
    "messageEncoding": ["Text", "unicode", "AUTO", "0", "8", "16", 8, "7bit"],
    "timeScheduled": TIMES,
    "timeValidity": TIMES,
    "reference": TEXTS,
    "replaceIfPresent": ["true", "0", "maybe", 2],
    "statusUrl": ["http://127.0.0.1:1/x", "https://", "ftp://x", "http://[::1", "javascript:"],
    "statusMethod": ["GET", "post", "PUT", "g\u0130t"],
    "statusFormat": ["XML", "json", "YAML"],
    "messageId": ["", "x" * 64, "x" * 65, "%00", "../../etc/passwd"],
    "maxRecords": ["0", "1", "1000", "1001", "-5", "1e2", "NaN", 10**30],
}
ALL_FIELDS = sorted(FIELD_VALUES)
PLAUSIBLE_MESSAGE = {"to": "32470000001", "message": "fuzz"}
_MESSAGE_FIELDS = [name for name in FIELD_VALUES if name not in ("messageId", "maxRecords")]
ENDPOINT_FIELDS = {
    "/sms/v1/Message": _MESSAGE_FIELDS,
    "/sms/sandbox/Message": _MESSAGE_FIELDS,
    "/sms/v1/Cancel": ["apiKey", "messageId"],
    "/sms/v1/StatusMessage": ["apiKey", "messageId"],
    "/sms/sandbox/StatusMessage": ["apiKey", "messageId"],
    "/sms/v1/Status": ["apiKey", "maxRecords"],
    "/sms/v1/Incoming": ["apiKey", "maxRecords"],
}
# No HEAD: its answer announces a Content-Length without a body, which would misalign the
# parsing of pipelined answers.
METHODS = ["GET", "POST", "POST", "PUT", "DELETE", "OPTIONS", "get", "P0ST", ""]
VERSIONS = ["HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.2", "HTTP/x", ""]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=UTF-8",
    "application/x-www-form-urlencoded",
    "application/vnd.api+json",
    "text/plain",
    "multipart/form-data; boundary=x",
    "",
    ";;;",
]
_HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)


def json_values() -> st.SearchStrategy[object]:
    """Any JSON value: odd numbers and strings, lists and objects."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.integers(10**18, 10**40)
        | st.floats()
        | st.text(max_size=30)
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=8,
    )


def _spelled(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([name, name.lower(), name.upper(), name[0].upper() + name[1:]])


@st.composite
def hostile_fields(draw: st.DrawFn, names: list[str]) -> tuple[str, object]:
    """One of `names`, spelled as some client spells it, with a value chosen to trouble it
    (three times in four from FIELD_VALUES, else any JSON value)."""
    name = draw(st.sampled_from(names))
    values = st.sampled_from(FIELD_VALUES[name]) if draw(st.integers(0, 3)) else json_values()
    return draw(_spelled(name)), draw(values)


@st.composite
def api_fields(draw: st.DrawFn, api_key: str, names: list[str] = ALL_FIELDS) -> dict[str, object]:
    """A plausible request (the right key; a recipient and a text for /Message) with one to
    three hostile fields among `names`."""
    fields: dict[str, object] = {"apiKey": api_key}
    if "to" in names:
        fields.update(PLAUSIBLE_MESSAGE)
    fields.update(draw(st.lists(hostile_fields(names), min_size=1, max_size=3)))
    return fields


def _form(fields: dict[str, object]) -> bytes:
    pairs = {
        key: value if isinstance(value, str) else json.dumps(value) for key, value in fields.items()
    }
    return urlencode(pairs, errors="surrogatepass").encode()


@st.composite
def _broken(draw: st.DrawFn, body: bytes) -> bytes:
    """`body` cut short or with junk spliced in."""
    cut = draw(st.integers(0, len(body)))
    return body[:cut] + draw(st.binary(max_size=8)) + body[cut + draw(st.integers(0, 4)) :]


def _json_bodies(fields: st.SearchStrategy[dict[str, object]]) -> st.SearchStrategy[bytes]:
    return st.builds(
        lambda f, ascii: json.dumps(f, ensure_ascii=ascii).encode("utf-8", "surrogatepass"),
        fields,
        st.booleans(),
    )


def bodies(api_key: str) -> st.SearchStrategy[bytes]:
    """JSON, forms, broken JSON, deep nesting, oversized bodies and plain bytes."""
    fields = api_fields(api_key)
    as_json = _json_bodies(fields)
    key = json.dumps(api_key).encode()
    nested = st.integers(1, 20_000).map(
        lambda n: b'{"apiKey":' + key + b',"to":' + b"[" * n + b"]" * n + b"}"
    )
    oversized = st.integers(60_000, 70_000).map(lambda n: b'{"message":"' + b"x" * n + b'"}')
    return st.one_of(
        as_json,
        fields.map(_form),
        as_json.flatmap(_broken),
        nested,
        oversized,
        st.binary(max_size=200),
    )


def _headers(draw: st.DrawFn, api_key: str) -> list[tuple[str, str]]:
    headers = [("Host", "127.0.0.1")] if draw(st.integers(0, 5)) else []
    if draw(st.booleans()):
        headers.append(("Content-Type", draw(st.sampled_from(CONTENT_TYPES) | _HEADER_TEXT)))
    optional = [
        ("Authorization", st.sampled_from([f"Bearer {api_key}", "Bearer", "Basic eA=="])),
        ("X-Api-Key", st.sampled_from([api_key, "", "x" * 300])),
        ("X-Forwarded-For", st.sampled_from(["1.2.3.4", "::1, 300.1.1.1", "garbage"])),
        ("Expect", st.just("100-continue")),
        ("Connection", st.sampled_from(["close", "keep-alive", "upgrade"])),
    ]
    for name, values in optional:
        if draw(st.integers(0, 4)) == 0:
            headers.append((name, draw(values)))
    headers += draw(st.lists(st.tuples(_HEADER_TEXT, _HEADER_TEXT), max_size=2))
    return headers


def _framed(draw: st.DrawFn, body: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """The body with its framing: right, wrong, chunked (well or badly) or none at all."""
    framing = draw(st.sampled_from(["length", "length", "chunked", "wrong", "none"]))
    if framing == "length":
        return [("Content-Length", str(len(body)))], body
    if framing == "wrong":
        value = draw(
            st.sampled_from(["-1", "1e3", "0x10", "", "99999999999999999999"])
            | st.integers(0, 10**12).map(str)
        )
        return [("Content-Length", value)], body
    if framing == "none":
        return [], body
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=3)))
    chunks = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True) if b > a]
    size = draw(st.sampled_from(["{:x}", "{:X}", "{:x};ext=1", "0x{:x}", "{:x} "]))
    encoded = b"".join(size.format(len(c)).encode() + b"\r\n" + c + b"\r\n" for c in chunks)
    return [("Transfer-Encoding", "chunked")], encoded + b"0\r\n\r\n"


@st.composite
def http_request(draw: st.DrawFn, api_key: str) -> bytes:
    """One request, mostly well formed at the HTTP level, with a hostile body."""
    method = draw(st.sampled_from(METHODS))
    path = draw(st.sampled_from(API_PATHS) | st.text(max_size=20).map(lambda t: "/" + quote(t)))
    if draw(st.booleans()):
        query = draw(api_fields(api_key) | st.dictionaries(st.text(max_size=8), json_values()))
        path += "?" + _form(query).decode()
    version = draw(st.sampled_from(VERSIONS))
    body = draw(bodies(api_key)) if method.upper() != "GET" or draw(st.booleans()) else b""
    framing, framed = _framed(draw, body)
    headers = _headers(draw, api_key) + framing
    head = f"{method} {path} {version}\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers)
    return head.encode("utf-8", "surrogatepass") + b"\r\n" + framed


def http_streams(api_key: str) -> st.SearchStrategy[bytes]:
    """What a client sends on one connection: one or two requests, sometimes mangled, or
    nothing like HTTP at all."""
    requests = st.lists(http_request(api_key), min_size=1, max_size=2).map(b"".join)
    return requests | requests.flatmap(_broken) | st.binary(max_size=300)


def post(path: str, content_type: str, body: bytes) -> bytes:
    """A well-formed POST request, as raw bytes."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


@st.composite
def api_requests(draw: st.DrawFn, api_key: str) -> bytes:
    """A well-formed HTTP request to a Message API endpoint, with hostile fields it knows,
    as JSON or as a form."""
    path = draw(st.sampled_from(sorted(ENDPOINT_FIELDS)))
    fields = api_fields(api_key, ENDPOINT_FIELDS[path])
    if draw(st.integers(0, 3)):
        return post(path, draw(st.sampled_from(CONTENT_TYPES[:2])), draw(_json_bodies(fields)))
    return post(path, CONTENT_TYPES[2], draw(fields.map(_form)))


# --- deliver_sm from a carrier ---------------------------------------------------------------

DATA_CODINGS = [0, 1, 2, 3, 4, 8, 0x18, 0x48, 0xF0, 0xF4, 0xFF]
RECEIPT_STATES = ["DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "ACCEPTD", "UNKNOWN", "garbage"]


@st.composite
def receipt_texts(draw: st.DrawFn) -> bytes:
    """Receipt text as carriers write it, more or less: ids, states and dates drawn."""
    message_id = draw(_C_TEXT)
    state = draw(st.sampled_from(RECEIPT_STATES))
    date = draw(st.sampled_from(["2611251200", "9913311299", "", "x"]))
    return (
        f"id:{message_id} sub:001 dlvrd:001 submit date:{date} done date:{date} "
        f"stat:{state} err:{draw(_C_TEXT)} text:"
    ).encode()


@st.composite
def deliver_sm_fields(draw: st.DrawFn, number: str) -> dict[str, object]:
    """What a carrier may put in a deliver_sm: MO or receipt, UDH or SAR, any coding."""
    tlvs = {
        "receipted_message_id": _C_TEXT,
        "message_state": _OCTET,
        "sar_msg_ref_num": st.integers(0, 0xFFFF),
        "sar_total_segments": _OCTET,
        "sar_segment_seqnum": _OCTET,
    }
    chosen = draw(st.lists(st.sampled_from(sorted(tlvs)), max_size=3, unique=True))
    return {
        "source": draw(st.sampled_from(["32470000001", "STOP", ""]) | _C_TEXT),
        "destination": draw(st.sampled_from([number, "0000"]) | _C_TEXT),
        "short_message": draw(receipt_texts() | st.binary(max_size=160)),
        "data_coding": draw(st.sampled_from(DATA_CODINGS) | _OCTET),
        "esm_class": draw(st.sampled_from([0, 0x04, 0x40, 0x44]) | _OCTET),
        "tlvs": {name: draw(tlvs[name]) for name in chosen},
    }
