"""The HTTP server over real loopback sockets: routing, limits, bad input, keep-alive, drain."""

import json
import socket

import httpx
import pytest
import trio
import trio.testing

from gatewayd.protocols.http.server import HttpServer, ServerLimits
from gatewayd.protocols.listeners import ListenError
from tests.http.conftest import exchange


async def test_paths_are_case_insensitive(http_server):
    _, _, port = http_server
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        for path in ["/sms/v1/Message", "/sms/V1/Message", "/sms/v1/message"]:
            response = await client.post(path, content=b"{}")
            assert response.status_code == 200, path


async def test_unknown_path_and_wrong_method_get_json_answers(http_server):
    _, _, port = http_server
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        missing = await client.get("/nowhere")
        assert missing.status_code == 404 and missing.json()["ResultCode"] == 13
        wrong = await client.get("/sms/v1/Message")
        assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
        assert wrong.json() == {"ResultCode": 13, "ResultDescription": "Method not allowed: GET"}


async def test_a_body_over_the_limit_is_refused_by_its_length(http_server):
    _, _, port = http_server
    raw = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"
    answer = await exchange(port, raw)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b'"ResultCode":13' in answer


async def test_a_chunked_body_over_the_limit_is_refused_while_streaming(http_server):
    _, _, port = http_server
    chunk = b"x" * 600
    raw = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n%s\r\n" % (len(chunk), chunk) * 2
        + b"0\r\n\r\n"
    )
    answer = await exchange(port, raw)
    assert answer.startswith(b"HTTP/1.1 400 ")


async def test_a_chunked_body_within_the_limit_arrives_whole(http_server):
    _, _, port = http_server
    raw = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    answer = await exchange(port, raw)
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["body"] == "hello world"


async def test_a_client_that_never_finishes_its_headers_is_closed(http_server):
    _, _, port = http_server
    with trio.fail_after(3):
        answer = await exchange(port, b"POST /echo HTTP/1.1\r\nHost: x\r\n")
    assert answer == b""


async def test_a_client_that_never_sends_its_body_gets_408(http_server):
    _, _, port = http_server
    with trio.fail_after(3):
        answer = await exchange(
            port, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab"
        )
    assert answer.startswith(b"HTTP/1.1 408 ")


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\x01\x02garbage\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    ],
)
async def test_malformed_requests_get_an_error_and_the_server_keeps_serving(http_server, garbage):
    _, _, port = http_server
    answer = await exchange(port, garbage)
    assert answer[9:10] in (b"4", b"5") and b"ResultCode" in answer
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"http://127.0.0.1:{port}/echo")).status_code == 200


async def test_a_handler_exception_is_a_json_500_and_the_server_keeps_serving(http_server, caplog):
    _, _, port = http_server
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        broken = await client.get("/boom")
        assert broken.status_code == 500 and broken.json()["ResultCode"] == 1
        assert (await client.get("/echo")).status_code == 200
    assert "handler bug" in caplog.text


async def test_keep_alive_and_pipelined_requests_share_one_connection(http_server):
    _, probe, port = http_server
    raw = (
        b"GET /echo?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /echo?n=2 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /echo?n=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    answer = await exchange(port, raw)
    assert answer.count(b"HTTP/1.1 200 OK") == 3
    assert [r.query["n"] for r in probe.seen] == ["1", "2", "3"]
    assert len({(r.peer) for r in probe.seen}) == 1


async def test_expect_100_continue_is_answered(http_server):
    _, _, port = http_server
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"
        )
        with trio.fail_after(3):
            interim = await stream.receive_some(1000)
        assert interim.startswith(b"HTTP/1.1 100 ")
        await stream.send_all(b"hi")
        with trio.fail_after(3):
            final = await stream.receive_some(1000)
        assert final.startswith(b"HTTP/1.1 200 ") and b'"body":"hi"' in final


async def test_stop_lets_a_request_in_flight_finish_then_closes(nursery):
    from tests.http.conftest import Probe

    probe = Probe()
    server = HttpServer("test", ["127.0.0.1:0"], probe.router(), ServerLimits(drain_timeout_s=5))
    done = trio.Event()
    answers = []

    async def run_server():
        await server.run()
        done.set()

    nursery.start_soon(run_server)
    while not server.addresses:
        await trio.testing.wait_all_tasks_blocked()
    port = server.addresses[0][1]

    async def slow_client():
        async with httpx.AsyncClient() as client:
            answers.append(await client.get(f"http://127.0.0.1:{port}/slow"))

    nursery.start_soon(slow_client)
    with trio.fail_after(5):
        await probe.slow_started.wait()
    server.stop()
    await trio.testing.wait_all_tasks_blocked()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    assert not done.is_set()
    probe.release.set()
    with trio.fail_after(5):
        await done.wait()
    assert answers[0].status_code == 200 and answers[0].headers["connection"] == "close"


async def test_a_port_in_use_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = HttpServer("api", [f"127.0.0.1:{port}"], None, ServerLimits())
        with pytest.raises(
            ListenError, match=f"api: cannot listen on 127.0.0.1:{port}: address already in use"
        ):
            await server.run()


# Where llhttp (the parser) and h11 (the one it replaced) differ, the server does what nginx
# does, or refuses with a 4xx where nginx would answer 5xx.
CHUNKED_AB = (
    b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"
)
SECOND = b"GET /echo?n=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


async def test_a_head_with_bare_lf_line_ends_is_served(http_server):
    _, probe, port = http_server
    answer = await exchange(port, b"GET /echo?n=1 HTTP/1.1\nHost: x\nConnection: close\n\n")
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and probe.seen[0].query == {"n": "1"}


async def test_utf8_in_the_request_target_is_read_as_percent_encoded(http_server):
    _, probe, port = http_server
    raw = "GET /echo?to=é HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    answer = await exchange(port, raw)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and probe.seen[0].query == {"to": "é"}


@pytest.mark.parametrize("coding", [b"gzip, chunked", b"identity", b"chunked, chunked"])
async def test_a_transfer_coding_other_than_chunked_is_refused(http_server, coding):
    _, probe, port = http_server
    raw = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + coding + b"\r\n\r\n0\r\n\r\n"
    answer = await exchange(port, raw)
    assert answer.startswith(b"HTTP/1.1 400 ") and b"Connection: close" in answer
    assert probe.seen == []


@pytest.mark.parametrize(
    "request_line", [b"FOO /echo HTTP/1.1", b"get /echo HTTP/1.1", b"CONNECT x:443 HTTP/1.1"]
)
async def test_an_unknown_method_or_connect_is_refused_with_400(http_server, request_line):
    _, probe, port = http_server
    answer = await exchange(port, request_line + b"\r\nHost: x\r\n\r\n" + SECOND)
    assert answer.startswith(b"HTTP/1.1 400 ") and b'"ResultCode":13' in answer
    assert probe.seen == []


async def test_an_upgrade_request_is_served_as_http_with_its_body(http_server):
    _, probe, port = http_server
    raw = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
        b"Content-Length: 2\r\n\r\nab" + SECOND
    )
    answer = await exchange(port, raw)
    assert answer.count(b"HTTP/1.1 200 OK") == 2
    assert [r.body for r in probe.seen] == [b"ab", b""] and "upgrade" not in probe.seen[0].headers


async def test_a_request_pipelined_after_a_chunked_body_is_left_and_the_connection_closed(
    http_server,
):
    _, probe, port = http_server
    raw = CHUNKED_AB
    answer = await exchange(port, raw + SECOND)
    assert answer.count(b"HTTP/1.1 ") == 1 and b"Connection: close" in answer
    assert [r.body for r in probe.seen] == [b"ab"]


async def test_a_chunked_request_keeps_the_connection_when_nothing_followed_it(http_server):
    _, probe, port = http_server
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(CHUNKED_AB)
        with trio.fail_after(3):
            first = await stream.receive_some(65536)
        assert first.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" not in first
        await stream.send_all(SECOND)
        with trio.fail_after(3):
            second = await stream.receive_some(65536)
    assert second.startswith(b"HTTP/1.1 200 OK") and [r.body for r in probe.seen] == [b"ab", b""]


async def test_http_1_0_is_answered_and_closed(http_server):
    _, _, port = http_server
    answer = await exchange(port, b"GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + SECOND)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.count(b"HTTP/1.1 ") == 1
    assert b"Connection: close" in answer


async def test_head_gets_the_length_without_the_body_and_the_connection_goes_on(http_server):
    _, _, port = http_server
    answer = await exchange(port, b"HEAD /echo HTTP/1.1\r\nHost: x\r\n\r\n" + SECOND)
    head, rest = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 OK") and b"Content-Length: " in head
    assert rest.startswith(b"HTTP/1.1 200 OK")


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/0.9", b"HTTP/1.2"])
async def test_other_http_versions_get_505(http_server, version):
    _, probe, port = http_server
    answer = await exchange(port, b"GET /echo " + version + b"\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 505 ") and probe.seen == []
