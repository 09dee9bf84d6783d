"""Header syntax that real clients send and common servers accept is accepted; a head whose
body framing two parsers could read differently (request smuggling) is refused with 400."""

import json
import re
from pathlib import Path

import pytest
import trio

from tests.http.conftest import exchange

PHP_SEND = Path(__file__).parents[1] / "api" / "client_recordings" / "php" / "send.http"


def answers(raw: bytes) -> list[bytes]:
    """The status lines in everything a connection answered."""
    return re.findall(rb"HTTP/1\.1 \d{3} [^\r]*", raw)


async def test_the_php_clients_recorded_send_with_a_space_before_a_colon_is_accepted(
    http_server,
):
    _, probe, port = http_server
    recorded = PHP_SEND.read_bytes().replace(b"/sms/V1/Message", b"/echo")
    assert b"\r\nContent-Charset : UTF-8\r\n" in recorded
    answer = await exchange(port, recorded, until_closed=False)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert probe.seen[0].headers["content-charset"] == "UTF-8"
    assert json.loads(probe.seen[0].body)["to"] == "32470000001"


@pytest.mark.parametrize(
    "line", [b"X-Thing : one", b"X-Thing\t: one", b"X-Thing  \t : one", b"x-thing :one"]
)
async def test_whitespace_before_the_colon_of_an_ordinary_header_is_dropped(http_server, line):
    _, probe, port = http_server
    raw = b"GET /echo HTTP/1.1\r\nHost: x\r\n" + line + b"\r\nConnection: close\r\n\r\n"
    answer = await exchange(port, raw)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert probe.seen[0].headers["x-thing"] == "one"


async def test_every_request_of_a_kept_alive_connection_is_normalized(http_server):
    _, probe, port = http_server
    raw = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nX-N : 1\r\n\r\nab"
        b"GET /echo HTTP/1.1\r\nHost: x\r\nX-N : 2\r\n\r\n"
        b"GET /echo HTTP/1.1\r\nHost: x\r\nX-N : 3\r\nConnection: close\r\n\r\n"
    )
    answer = await exchange(port, raw)
    assert answers(answer) == [b"HTTP/1.1 200 OK"] * 3
    assert [request.headers["x-n"] for request in probe.seen] == ["1", "2", "3"]


async def test_empty_lines_before_a_request_line_are_ignored(http_server):
    _, probe, port = http_server
    raw = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab\r\n"
        b"\r\nGET /echo?n=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    answer = await exchange(port, raw)
    assert answers(answer) == [b"HTTP/1.1 200 OK"] * 2
    assert [request.query.get("n") for request in probe.seen] == [None, "2"]


SMUGGLED = b"GET /echo?smuggled=1 HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize(
    "framing",
    [
        pytest.param(b"Content-Length : 5", id="space-before-colon-of-content-length"),
        pytest.param(b"Content-Length\t: 5", id="tab-before-colon-of-content-length"),
        pytest.param(b"Transfer-Encoding : chunked", id="space-before-colon-of-te"),
        pytest.param(b"Content-Length:\r\n 5", id="folded-content-length"),
        pytest.param(b"Content-Length: 5\r\n 0", id="content-length-continued"),
        pytest.param(b"Transfer-Encoding: chunked\r\n\tidentity", id="folded-te"),
        pytest.param(b"Content-Length: 5\r\nContent-Length: 6", id="conflicting-lengths"),
        pytest.param(b"Content-Length: 5, 6", id="conflicting-length-list"),
        pytest.param(b"Content-Length: 5\r\nTransfer-Encoding: chunked", id="cl-and-te"),
        pytest.param(b"Transfer-Encoding: chunked\r\nContent-Length: 5", id="te-and-cl"),
        pytest.param(b"Transfer-Encoding: chunked\r\ncontent-length : 5", id="te-and-cl-space"),
    ],
)
async def test_a_head_ambiguous_for_framing_is_refused_and_nothing_is_smuggled(
    http_server, framing
):
    _, probe, port = http_server
    raw = b"POST /echo HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n\r\n0\r\n\r\n" + SMUGGLED
    answer = await exchange(port, raw)
    assert answers(answer) == [b"HTTP/1.1 400 Bad Request"]
    assert b"Connection: close" in answer and b'"ResultCode"' in answer
    assert probe.seen == []


async def test_identical_repeated_content_lengths_are_one_length(http_server):
    _, probe, port = http_server
    raw = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n"
        b"Connection: close\r\n\r\nab"
    )
    answer = await exchange(port, raw)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and probe.seen[0].body == b"ab"


async def test_a_head_over_the_limit_still_gets_431(http_server):
    _, _, port = http_server
    raw = b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    answer = await exchange(port, raw)
    assert answer.startswith(b"HTTP/1.1 431 ")


async def test_100_continue_is_the_bare_line_that_the_php_client_skips(http_server):
    _, _, port = http_server
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Charset : UTF-8\r\nContent-Length: 2\r\n"
            b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
        )
        with trio.fail_after(3):
            interim = b""
            while not interim.endswith(b"\r\n\r\n"):
                interim += await stream.receive_some(1)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        await stream.send_all(b"hi")
        final = b""
        with trio.fail_after(3):
            while chunk := await stream.receive_some(65536):
                final += chunk
    parts = (interim + final).split(b"\r\n\r\n", 2)
    head, body = (parts[1], parts[2]) if parts[0] == b"HTTP/1.1 100 Continue" else parts[:2]
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert json.loads(body)["body"] == "hi"
