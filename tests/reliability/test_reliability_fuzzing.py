"""Issue #7, scenario 5 — fuzzing what peers send: SMPP PDUs (the decoder and the session
alone, then the SMPP front door over a socket), deliver_sm from a carrier, and raw HTTP
requests to the running gateway, on SQLite and on PostgreSQL (which refuses what SQLite
takes, such as NUL in text).

The decoder only ever refuses with PduError, never hangs and never allocates what a header
claims; the daemon answers garbage with generic_nack / a 4xx or closes, never with a crash,
acknowledges whatever a carrier delivers, and serves well-behaved clients afterwards.
"""

import contextlib
import json
import logging
import tracemalloc
from dataclasses import dataclass, field

import trio
from hypothesis import example, given
from hypothesis import strategies as st
from smpplib import command_codes
from sqlalchemy import func, select

from gatewayd.core.statuses import Status
from gatewayd.protocols.smpp import codec
from gatewayd.protocols.smpp.client import Carrier, CarrierSettings, Outcome
from gatewayd.protocols.smpp.codec import Pdu, PduError
from gatewayd.protocols.smpp.session import BadPdu, Session
from gatewayd.storage.tables import messages, outbox
from tests.gateway import KEY, Gateway
from tests.reliability.fuzz_support import (
    EXCHANGE_TIMEOUT_S,
    ExampleCount,
    api_requests,
    bad_lengths,
    deliver_sm_fields,
    exchange,
    fuzz_settings,
    garbage_bodies,
    http_streams,
    post,
    run_examples,
    smpp_frames,
    time_limit,
    truncated_pdus,
    valid_pdus,
)

CODEC_EXAMPLES = 400
DECODE_TIME_LIMIT_S = 1.0
MEMORY_LIMIT_BYTES = 1 << 20
NACK = "generic_nack"


def decode_or_refuse(data: bytes) -> Pdu | None:
    """codec.decode, bounded in time; None when it refuses with its own error type."""
    with time_limit(DECODE_TIME_LIMIT_S):
        try:
            return codec.decode(data)
        except PduError:
            return None


def split_pdus(data: bytes) -> list[Pdu]:
    """The PDUs in a byte stream the session produced (it must be well framed)."""
    pdus = []
    while data:
        length = codec.frame_length(data[: codec.HEADER_SIZE])
        pdus.append(codec.decode(data[:length]))
        data = data[length:]
    return pdus


# --- (a) the PDU decoder -------------------------------------------------------------------


def test_the_decoder_refuses_any_bytes_with_pdu_error_only(figures) -> None:
    seen = ExampleCount()
    decoded = ExampleCount()

    @fuzz_settings(CODEC_EXAMPLES)
    @given(st.binary(max_size=400) | garbage_bodies() | truncated_pdus())
    def decoder_never_crashes(data: bytes) -> None:
        seen.tick()
        pdu = decode_or_refuse(data)
        if pdu is not None:
            decoded.tick()
            _, command_id, _, sequence = codec.HEADER.unpack_from(data)
            assert (pdu.command, pdu.sequence) == (
                command_codes.get_command_name(command_id),
                sequence,
            )

    decoder_never_crashes()
    figures.add(f"decoder: {seen.count} byte strings, {decoded.count} decoded, the rest PduError")


def test_every_valid_pdu_decodes_to_its_command_and_sequence(figures) -> None:
    seen = ExampleCount()

    @fuzz_settings(CODEC_EXAMPLES)
    @given(valid_pdus())
    def valid_pdus_decode(data: bytes) -> None:
        seen.tick()
        pdu = decode_or_refuse(data)
        _, command_id, _, sequence = codec.HEADER.unpack_from(data)
        assert pdu is not None, data.hex()
        assert pdu.command == command_codes.get_command_name(command_id)
        assert pdu.sequence == sequence

    valid_pdus_decode()
    figures.add(f"decoder: {seen.count} valid PDUs, every one decoded")


def test_a_header_claiming_gigabytes_is_refused_without_allocating_them(figures) -> None:
    seen = ExampleCount()
    allocated: list[int] = []  # bytes allocated at the peak of refusing each example

    @fuzz_settings(CODEC_EXAMPLES // 4)
    @given(bad_lengths())
    def huge_lengths_are_refused(data: bytes) -> None:
        seen.tick()
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        session = Session()
        with time_limit(DECODE_TIME_LIMIT_S):
            events = session.receive_data(data)
            decode_or_refuse(data)
        allocated.append(tracemalloc.get_traced_memory()[1] - before)
        assert len(events) == 1 and isinstance(events[0], BadPdu) and events[0].error.fatal
        (nack,) = split_pdus(session.data_to_send())
        assert (nack.command, nack.status) == ("generic_nack", codec.ESME_RINVCMDLEN)
        assert session.receive_data(data) == [], "a session that lost its framing reads nothing"

    tracemalloc.start()
    try:
        huge_lengths_are_refused()
    finally:
        tracemalloc.stop()
    assert max(allocated) < MEMORY_LIMIT_BYTES
    figures.add(
        f"decoder: {seen.count} headers with impossible command_length (up to 4 GiB), "
        f"all refused with generic_nack; peak allocation {max(allocated) / 1024:.0f} KiB"
    )


def test_the_session_answers_every_unusable_frame_whatever_the_chunking(figures) -> None:
    seen = ExampleCount()
    refused = ExampleCount()

    @fuzz_settings(CODEC_EXAMPLES // 2)
    @given(st.lists(smpp_frames(), min_size=1, max_size=6), st.data())
    def session_never_crashes(frames: list[bytes], data: st.DataObject) -> None:
        seen.tick()
        stream = b"".join(frames)
        cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
        session = Session()
        events = []
        with time_limit(DECODE_TIME_LIMIT_S):
            for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
                events += session.receive_data(stream[start:end])
        bad = [event for event in events if isinstance(event, BadPdu)]
        refused.count += len(bad)
        # A request that has no response of its own, sent before the bind, is also answered
        # with generic_nack (ESME_RINVBNDSTS); every other nack answers an unusable frame.
        nacks = [
            p.status
            for p in split_pdus(session.data_to_send())
            if p.command == NACK and p.status != codec.ESME_RINVBNDSTS
        ]
        assert nacks == [b.error.status for b in bad], "each unusable frame gets its nack"

    session_never_crashes()
    figures.add(
        f"session: {seen.count} chunked streams of mixed frames, "
        f"{refused.count} unusable frames, each answered with generic_nack"
    )


# --- (b) the SMPP front door over a socket -------------------------------------------------

SMPP_EXAMPLES = 150
MAX_PDU = 4096
PROBE_SEQUENCE = 0x7FFFFFF0
BIND = codec.encode(
    "bind_transceiver", 1, system_id="shop", password="pw-shop", interface_version=0x34
)
SMPP_SERVER = f"""
smpp_server: {{listen: ["127.0.0.1:0"], max_pdu_bytes: {MAX_PDU}, failed_login_delay_s: 0.001}}
"""


def with_smpp_server(text: str) -> str:
    smpp = '\n        smpp: {system_id: shop, password: "pw-shop", max_binds: 64}'
    return text.replace("        max_parts: 3", "        max_parts: 3" + smpp) + SMPP_SERVER


def complete_frames(stream: bytes, max_pdu: int) -> tuple[bytes, bool]:
    """`stream` padded with zeros to end on a frame boundary as the server frames it, and
    whether the server must give up on it (a command_length it cannot frame)."""
    position = 0
    while position < len(stream):
        stream += bytes(max(0, position + codec.HEADER_SIZE - len(stream)))
        length = int.from_bytes(stream[position : position + 4], "big")
        if not codec.HEADER_SIZE <= length <= max_pdu:
            return stream, True
        stream += bytes(max(0, position + length - len(stream)))
        position += length
    return stream, False


@dataclass
class SmppAnswer:
    pdus: list[Pdu]
    closed: bool


async def smpp_exchange(port: int, stream: bytes) -> SmppAnswer:
    """Send `stream` then an enquire_link probe; read until the probe is answered or the
    server closes (bounded)."""
    pdus: list[Pdu] = []
    buffer = b""
    with trio.fail_after(EXCHANGE_TIMEOUT_S):
        connection = await trio.open_tcp_stream("127.0.0.1", port)
        async with connection:
            # A server that closed on us mid-way still has its answer in our receive buffer.
            with contextlib.suppress(trio.BrokenResourceError):
                await connection.send_all(stream + codec.encode("enquire_link", PROBE_SEQUENCE))
            while True:
                try:
                    chunk = await connection.receive_some(65536)
                except trio.BrokenResourceError:
                    chunk = b""
                if not chunk:
                    return SmppAnswer(pdus + split_pdus(buffer), closed=True)
                buffer += chunk
                complete, buffer = split_complete(buffer)
                pdus += complete
                if any(
                    p.command == "enquire_link_resp" and p.sequence == PROBE_SEQUENCE
                    for p in complete
                ):
                    return SmppAnswer(pdus, closed=False)


def split_complete(buffer: bytes) -> tuple[list[Pdu], bytes]:
    """The whole PDUs at the start of `buffer`, and what is left of it."""
    pdus = []
    while len(buffer) >= codec.HEADER_SIZE:
        length = codec.frame_length(buffer[: codec.HEADER_SIZE])
        if len(buffer) < length:
            break
        pdus.append(codec.decode(buffer[:length]))
        buffer = buffer[length:]
    return pdus, buffer


async def bound_esme(nursery: trio.Nursery, port: int) -> Carrier:
    """A well-behaved application: gatewayd's own SMPP client, bound to the front door."""

    async def accept_deliveries(_carrier: str, _pdu: Pdu) -> int:
        return codec.ESME_ROK

    settings = CarrierSettings(
        name="esme", host="127.0.0.1", port=port, system_id="shop", password="pw-shop"
    )
    carrier = Carrier(settings, accept_deliveries)
    await nursery.start(carrier.run)
    with trio.fail_after(EXCHANGE_TIMEOUT_S):
        await carrier.wait_healthy()
    return carrier


def check_smpp_answer(answer: SmppAnswer, stream: bytes) -> None:
    sent = stream.hex()
    _, unframeable = complete_frames(stream, MAX_PDU)
    failed = [p for p in answer.pdus if p.status == codec.ESME_RSYSERR and p.command != NACK]
    assert not failed, f"garbage made a request handler fail: {sent}"
    assert all(p.is_response or p.command == "deliver_sm" for p in answer.pdus), sent
    if not answer.closed:
        assert not unframeable, f"a stream that cannot be framed must end the connection: {sent}"
        return
    reasons = [
        p
        for p in answer.pdus
        if p.command == "unbind_resp" or (p.command == NACK and p.status == codec.ESME_RINVCMDLEN)
    ]
    assert reasons, f"closed without an unbind or lost framing: {sent} -> {answer.pdus}"


async def test_the_smpp_front_door_survives_garbage_and_binds_afterwards(
    gateway_factory, nursery, caplog, figures
) -> None:
    gateway = await gateway_factory(accounts_patch=with_smpp_server)
    seen = ExampleCount()
    closed = ExampleCount()

    @fuzz_settings(SMPP_EXAMPLES)
    @given(st.booleans(), st.lists(smpp_frames(), min_size=1, max_size=4))
    def front_door_never_crashes(bind_first: bool, frames: list[bytes]) -> None:
        seen.tick()
        garbage, _ = complete_frames(b"".join(frames), MAX_PDU)
        stream = (BIND if bind_first else b"") + garbage
        answer = trio.from_thread.run(smpp_exchange, gateway.smpp_port, stream)
        closed.count += answer.closed
        check_smpp_answer(answer, stream)

    with caplog.at_level(logging.ERROR, logger="gatewayd"):
        await run_examples(front_door_never_crashes)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    esme = await bound_esme(nursery, gateway.smpp_port)
    submit = {"source_addr": "8686", "destination_addr": "32470000001", "data_coding": 3}
    result = await esme.submit({**submit, "short_message": b"after"})
    assert result.outcome is Outcome.ACCEPTED
    refused = await esme.submit({**submit, "short_message": b"a\x00b"})  # was ESME_RSYSERR
    assert (refused.outcome, refused.status) == (Outcome.REJECTED, codec.ESME_RINVMSGLEN)
    await gateway.simulator.wait_until(
        lambda: any(s.fields["short_message"] == b"after" for s in gateway.simulator.submitted)
    )
    figures.add(
        f"SMPP front door: {seen.count} garbage streams, {closed.count} ended the connection, "
        f"the rest answered the probe; a well-behaved ESME bound and submitted afterwards"
    )


PLAIN_MO = {
    "source": "32470000001",
    "destination": "8686",
    "short_message": b"hello",
    "data_coding": 0,
    "esm_class": 0,
    "tlvs": {},
}


async def test_any_deliver_sm_from_the_carrier_is_stored_and_acknowledged(
    gateway, caplog, figures
) -> None:
    """What a carrier sends is stored (or matched) and answered ESME_ROK: never the
    "try again" that would make the carrier send it forever."""
    seen = ExampleCount()

    @fuzz_settings(SMPP_EXAMPLES)
    @given(deliver_sm_fields("8686"))
    @example({**PLAIN_MO, "short_message": b"a\x00b", "data_coding": 3})  # NUL: PostgreSQL
    @example({**PLAIN_MO, "short_message": b"id:1 stat:DELIVRD text:\x00", "esm_class": 4})
    def carrier_deliveries_are_taken(fields: dict) -> None:
        seen.tick()
        status = trio.from_thread.run(
            lambda: gateway.simulator.inject_mo(
                fields["source"],
                fields["destination"],
                fields["short_message"],
                data_coding=fields["data_coding"],
                esm_class=fields["esm_class"],
                tlvs=fields["tlvs"],
            )
        )
        assert status == codec.ESME_ROK, (codec.status_name(status), fields)

    with caplog.at_level(logging.ERROR, logger="gatewayd"):
        await run_examples(carrier_deliveries_are_taken)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert await gateway.simulator.inject_mo("32470000001", "8686", b"after") == codec.ESME_ROK
    polled = await gateway.client.post("/sms/v1/Incoming", json={"apiKey": KEY, "maxRecords": 1000})
    assert "after" in [record["Message"] for record in polled.json()["IncomingMessages"]]
    figures.add(f"carrier bind: {seen.count} fuzzed deliver_sm, every one answered ESME_ROK")


# --- (c) the HTTP server and the Message API over a socket ---------------------------------

HTTP_EXAMPLES = 300
PROTOCOL_VERSION_REFUSED = 505


def parse_responses(data: bytes) -> list[tuple[int, bytes]]:
    """(status, body) of each response in what the server sent; it must be well formed."""
    responses = []
    while data:
        head, separator, data = data.partition(b"\r\n\r\n")
        assert separator, f"an unfinished response head: {head[:200]!r}"
        status_line, *header_lines = head.split(b"\r\n")
        version, status, _reason = status_line.split(b" ", 2)
        assert version == b"HTTP/1.1", status_line
        headers = dict(line.lower().split(b": ", 1) for line in header_lines)
        if int(status) == 100:
            continue
        length = int(headers[b"content-length"])
        assert len(data) >= length, f"a body cut short: {head!r}"
        responses.append((int(status), data[:length]))
        data = data[length:]
    return responses


def check_http_answer(data: bytes, sent: bytes) -> list[int]:
    """The statuses answered; none says the server failed, every refusal explains itself."""
    responses = parse_responses(data)
    for status, body in responses:
        refused = f"{status} {body!r} <- {sent[:500]!r}"
        assert status < 500 or status == PROTOCOL_VERSION_REFUSED, refused
        if status >= 400:
            assert json.loads(body)["ResultCode"] != 0, body
    return [status for status, _ in responses]


def _message_body(**fields: str) -> bytes:
    body = {"apiKey": KEY, "to": "32470000001", "message": "regression", **fields}
    return json.dumps(body).encode()


def _message(**fields: str) -> bytes:
    return post("/sms/v1/Message", "application/json", _message_body(**fields))


# What made the daemon answer 500, or end altogether, before it was fixed.
REGRESSIONS = (
    _message(timeScheduled="0001-01-01T00:00:00+14:00"),
    _message(timeScheduled="31-12-9999 23:59"),
    _message(statusUrl="http://[::1"),
    _message(statusUrl="http://127.0.0.1:99999/", statusMethod="GET"),
    _message(statusUrl="http://" + "a" * 70 + ".example/"),
    _message(message="\ud800"),
    _message(message="a\x00b"),
    _message(reference="\x00"),
    _message(to="١٢٣٤٥٦٧٨٩٠١"),
    post(
        "/sms/v1/Message",
        "application/json",
        _message_body(message="é").replace(b"\\u00e9", b"\xed\xa0\x80"),
    ),
    post("/sms/v1/Message", "application/json", b'{"to":' + b"[" * 5000 + b"]" * 5000 + b"}"),
)


@dataclass
class HttpTally:
    """What a property's examples were answered, for the figures."""

    examples: int = 0
    closed: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def add(self, statuses: list[int]) -> None:
        self.examples += 1
        self.closed += not statuses
        for status in statuses:
            self.statuses[status] = self.statuses.get(status, 0) + 1

    def summary(self) -> str:
        spread = ", ".join(f"{status}: {n}" for status, n in sorted(self.statuses.items()))
        return f"{self.closed} closed without an answer; answers by status {{{spread}}}"


def untried(gateway: Gateway) -> int:
    """Accepted work nobody has tried yet: queued messages, webhook jobs never attempted
    whose turn has come (a message's later status waits, unscheduled, for its earlier one:
    with a dead webhook, for good)."""
    with gateway.runtime.engine.connect() as connection:
        queued = connection.execute(
            select(func.count()).where(
                (messages.c.status == int(Status.QUEUED)) & (messages.c.attempts == 0)
            )
        ).scalar_one()
        jobs = connection.execute(
            select(func.count()).where(
                (outbox.c.state == "pending")
                & (outbox.c.attempts == 0)
                & outbox.c.next_attempt_at.is_not(None)
            )
        ).scalar_one()
    return queued + jobs


async def fuzz_http(
    gateway: Gateway, requests: st.SearchStrategy[bytes], regressions: tuple[bytes, ...] = ()
) -> HttpTally:
    """Send every example (and every regression) to the gateway's HTTP API; once what they
    left behind has been tried (submits, webhooks), the gateway must still serve."""
    port = int(str(gateway.client.base_url).rsplit(":", 1)[1])
    tally = HttpTally()

    @fuzz_settings(HTTP_EXAMPLES)
    @given(requests)
    def http_never_crashes(raw: bytes) -> None:
        tally.add(check_http_answer(trio.from_thread.run(exchange, port, raw), raw))

    for raw in regressions:
        http_never_crashes = example(raw)(http_never_crashes)
    await run_examples(http_never_crashes)
    await gateway.wait_until(lambda: untried(gateway) == 0)
    assert (await gateway.client.get("/healthz")).status_code == 200
    answer = await gateway.send(to="32470000001", message="still serving")
    assert answer["ResultCode"] == 0 and answer["MessageCount"] == 1
    return tally


async def test_raw_http_garbage_gets_4xx_or_a_close_and_the_server_serves_afterwards(
    gateway, caplog, figures
) -> None:
    with caplog.at_level(logging.ERROR, logger="gatewayd"):
        tally = await fuzz_http(gateway, http_streams(KEY))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    figures.add(f"HTTP: {tally.examples} raw request streams, {tally.summary()}")


async def test_hostile_api_fields_get_4xx_never_500_and_the_api_serves_afterwards(
    gateway, caplog, figures
) -> None:
    with caplog.at_level(logging.ERROR, logger="gatewayd"):
        tally = await fuzz_http(gateway, api_requests(KEY), REGRESSIONS)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    figures.add(f"Message API: {tally.examples} hostile requests, {tally.summary()}")
