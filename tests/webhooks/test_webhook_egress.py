"""One webhook request: formats, source addresses, signatures, and every way it can fail."""

import json
from functools import partial
from urllib.parse import parse_qsl

import trio

from gatewayd.protocols.webhooks.egress import Egress
from gatewayd.protocols.webhooks.formats import WebhookRequest, build_request
from gatewayd.protocols.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify

RECORD = {"MessageId": "abc", "Reference": None, "StatusCode": "200", "Message": "a < b & c"}


async def test_post_json_post_xml_and_get_arrive_with_their_fields(receiver):
    egress = Egress([])
    for method, form in [("POST", "JSON"), ("POST", "XML"), ("GET", "JSON")]:
        attempt = await egress.send(build_request("status", method, form, receiver.url, RECORD), {})
        assert attempt.delivered and attempt.status == 200
    as_json, as_xml, as_get = receiver.requests
    assert json.loads(as_json.body) == RECORD
    assert as_json.headers["content-type"].startswith("application/json")
    assert as_xml.body == (
        b'<?xml version="1.0" encoding="utf-8"?><MessageStatus>'
        b"<MessageId>abc</MessageId><Reference/><StatusCode>200</StatusCode>"
        b"<Message>a &lt; b &amp; c</Message></MessageStatus>"
    )
    assert as_get.method == "GET" and as_get.query == {
        "MessageId": "abc",
        "Reference": "",
        "StatusCode": "200",
        "Message": "a < b & c",
    }
    await egress.aclose()


async def test_get_keeps_the_query_the_url_already_has(receiver):
    request = build_request("incoming", "GET", "XML", receiver.url + "?token=t1", {"From": "1"})
    assert parse_qsl(request.url.split("?", 1)[1]) == [("token", "t1"), ("From", "1")]


async def test_requests_leave_from_the_source_addresses_in_turn(receiver):
    egress = Egress(["127.0.0.2", "127.0.0.3"])
    for _ in range(4):
        assert (
            await egress.send(build_request("status", "POST", "JSON", receiver.url, RECORD), {})
        ).delivered
    assert [r.peer for r in receiver.requests] == ["127.0.0.2", "127.0.0.3"] * 2
    await egress.aclose()


async def test_an_address_this_host_does_not_have_is_skipped_and_reported(receiver):
    egress = Egress(["192.0.2.1", "127.0.0.2"])
    assert egress.usable == ["127.0.0.2"] and "192.0.2.1" in egress.unusable
    await egress.send(build_request("status", "POST", "JSON", receiver.url, RECORD), {})
    assert receiver.requests[0].peer == "127.0.0.2"
    await egress.aclose()


async def test_error_status_redirect_and_refused_connection_are_failures(receiver):
    egress = Egress([])
    request = build_request("status", "POST", "JSON", receiver.url, RECORD)
    receiver.status = 500
    failed = await egress.send(request, {})
    assert not failed.delivered and failed.status == 500
    receiver.status, receiver.redirect = 200, True
    redirected = await egress.send(request, {})
    assert not redirected.delivered and redirected.status == 302
    assert len(receiver.requests) == 2, "the redirect was not followed"
    refused = await egress.send(
        build_request("status", "POST", "JSON", "http://127.0.0.1:9/x", RECORD), {}
    )
    assert not refused.delivered and refused.status is None and refused.error
    await egress.aclose()


async def test_a_hanging_receiver_times_out_and_does_not_hold_other_hosts(receiver, nursery):
    egress = Egress([], timeout_s=1.0, max_per_host=1)
    slow = build_request("status", "POST", "JSON", receiver.url, RECORD)
    receiver.hang = True
    outcome = []
    finished = trio.Event()

    async def stuck():
        outcome.append(await egress.send(slow, {}))
        finished.set()

    nursery.start_soon(stuck)
    await receiver.wait_for(1)
    other = build_request(
        "status", "POST", "JSON", receiver.url.replace("127.0.0.1", "localhost"), RECORD
    )
    receiver.hang = False
    with trio.fail_after(0.9):
        assert (await egress.send(other, {})).delivered, "another host is not held up"
    with trio.fail_after(3):
        await finished.wait()
    assert not outcome[0].delivered and outcome[0].error == "timeout"
    await egress.aclose()


async def test_a_huge_answer_is_not_read_whole(receiver):
    receiver.huge = True
    egress = Egress([])
    with trio.fail_after(5):
        attempt = await egress.send(
            build_request("status", "POST", "JSON", receiver.url, RECORD), {}
        )
    assert attempt.delivered
    await egress.aclose()


async def test_signatures_verify_and_detect_tampering(receiver):
    egress = Egress([])
    request = build_request("status", "POST", "JSON", receiver.url, RECORD)
    await egress.send(request, sign("s3cret", 1_700_000_000, "POST", request.url, request.body))
    seen = receiver.requests[0]
    timestamp, signature = (
        seen.headers[TIMESTAMP_HEADER.lower()],
        seen.headers[SIGNATURE_HEADER.lower()],
    )
    assert verify("s3cret", timestamp, seen.body, signature)
    assert not verify("s3cret", timestamp, seen.body + b" ", signature)
    assert not verify("other", timestamp, seen.body, signature)
    await egress.aclose()


async def test_a_receiver_that_closes_the_connection_is_a_failure(nursery):
    async def slam(stream):
        await stream.receive_some(1000)
        await stream.aclose()

    listeners = await nursery.start(partial(trio.serve_tcp, slam, 0, host="127.0.0.1"))
    port = listeners[0].socket.getsockname()[1]
    egress = Egress([])
    attempt = await egress.send(
        build_request("status", "POST", "JSON", f"http://127.0.0.1:{port}/x", RECORD), {}
    )
    assert not attempt.delivered and attempt.status is None and attempt.error
    await egress.aclose()


async def test_a_pooled_connection_the_receiver_closed_is_replaced(nursery):
    connections = []

    async def answer_once(stream):
        connections.append(stream)
        await stream.receive_some(65536)
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await stream.aclose()  # no "Connection: close": the client finds out on reuse

    listeners = await nursery.start(partial(trio.serve_tcp, answer_once, 0, host="127.0.0.1"))
    url = f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}/x"
    egress = Egress([])
    for _ in range(3):
        attempt = await egress.send(build_request("status", "POST", "JSON", url, RECORD), {})
        assert attempt.delivered, attempt.error
    assert len(connections) == 3
    await egress.aclose()


async def test_keep_alive_connections_are_reused(receiver):
    egress = Egress([])
    for _ in range(5):
        await egress.send(build_request("status", "POST", "JSON", receiver.url, RECORD), {})
    assert len(receiver.requests) == 5
    (pool,) = egress._clients[None]._idle.values()
    assert len(pool) == 1, "one connection carried all five requests"
    await egress.aclose()


async def _raw_receiver(nursery, answer: bytes, received: list[bytes]) -> str:
    """A receiver that answers every request with exactly `answer`, then closes."""

    async def reply(stream):
        received.append(await stream.receive_some(65536))
        await stream.send_all(answer)
        await stream.aclose()

    listeners = await nursery.start(partial(trio.serve_tcp, reply, 0, host="127.0.0.1"))
    return f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}/x"


async def test_an_interim_100_continue_is_skipped_for_the_answer_after_it(nursery):
    answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"
    url = await _raw_receiver(nursery, answer, [])
    egress = Egress([])
    attempt = await egress.send(build_request("status", "POST", "JSON", url, RECORD), {})
    assert attempt.delivered and attempt.status == 204
    await egress.aclose()


async def test_an_answer_whose_body_ends_with_the_connection_counts_and_is_not_pooled(nursery):
    url = await _raw_receiver(nursery, b"HTTP/1.0 200 OK\r\n\r\nok, no length", [])
    egress = Egress([])
    attempt = await egress.send(build_request("status", "POST", "JSON", url, RECORD), {})
    assert attempt.delivered and attempt.status == 200
    assert not any(egress._clients[None]._idle.values())
    await egress.aclose()


async def test_an_answer_that_is_not_http_is_a_failure(nursery):
    url = await _raw_receiver(nursery, b"SMPP? no: garbage\r\n\r\n", [])
    egress = Egress([])
    attempt = await egress.send(build_request("status", "POST", "JSON", url, RECORD), {})
    assert not attempt.delivered and attempt.status is None
    assert "invalid response" in attempt.error
    await egress.aclose()


async def test_a_url_or_header_that_would_split_the_request_is_never_sent(nursery):
    received: list[bytes] = []
    url = await _raw_receiver(nursery, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", received)
    egress = Egress([])
    split_path = WebhookRequest("POST", url + " HTTP/1.1\r\nX-Injected: 1", {}, b"{}")
    attempt = await egress.send(split_path, {})
    assert not attempt.delivered and "request line" in attempt.error
    request = build_request("status", "POST", "JSON", url, RECORD)
    attempt = await egress.send(request, {"X-Signature": "abc\r\nX-Injected: 1"})
    assert not attempt.delivered and "header" in attempt.error
    assert received == []
    await egress.aclose()
