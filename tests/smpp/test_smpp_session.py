"""The sans-IO session: framing, matching, automatic answers and bad input, without a network."""

import struct

from gatewayd.protocols.smpp import codec
from gatewayd.protocols.smpp.session import (
    BadPdu,
    BindState,
    PeerUnbound,
    RequestReceived,
    ResponseReceived,
    Session,
    UnmatchedResponse,
)


def frames(data: bytes) -> list[codec.Pdu]:
    pdus = []
    while data:
        length = struct.unpack(">L", data[:4])[0]
        pdus.append(codec.decode(data[:length]))
        data = data[length:]
    return pdus


def bound_session() -> Session:
    session = Session()
    session.send_request("bind_transceiver", "bind", system_id="a", password="b")
    sequence = frames(session.data_to_send())[0].sequence
    session.receive_data(codec.encode("bind_transceiver_resp", sequence, system_id="smsc"))
    return session


def test_a_bind_response_binds_and_responses_find_their_requests():
    session = bound_session()
    assert session.state is BindState.BOUND_TRX
    first = session.send_request("submit_sm", "ctx-1", short_message=b"a")
    second = session.send_request("submit_sm", "ctx-2", short_message=b"b")
    assert second == first + 1 and session.outstanding == 2
    events = session.receive_data(codec.encode("submit_sm_resp", second, message_id="X"))
    assert isinstance(events[0], ResponseReceived) and events[0].context == "ctx-2"
    assert events[0].pdu.text("message_id") == "X" and session.outstanding == 1


def test_pdus_split_across_reads_and_several_in_one_read():
    session = bound_session()
    data = codec.encode("deliver_sm", 7, short_message=b"hi") + codec.encode("deliver_sm", 8)
    events = session.receive_data(data[:5]) + session.receive_data(data[5:30])
    events += session.receive_data(data[30:])
    assert [e.pdu.sequence for e in events if isinstance(e, RequestReceived)] == [7, 8]


def test_enquire_link_and_unbind_are_answered_by_the_session():
    session = bound_session()
    assert session.receive_data(codec.encode("enquire_link", 41)) == []
    (reply,) = frames(session.data_to_send())
    assert (reply.command, reply.sequence) == ("enquire_link_resp", 41)
    assert isinstance(session.receive_data(codec.encode("unbind", 42))[0], PeerUnbound)
    assert frames(session.data_to_send())[0].command == "unbind_resp"
    assert session.state is BindState.CLOSED


def test_an_unknown_command_id_gets_a_generic_nack_and_the_stream_goes_on():
    session = bound_session()
    garbage = struct.pack(">LLLL", 16, 0x000000FF, 0, 99)
    events = session.receive_data(garbage + codec.encode("deliver_sm", 5))
    assert isinstance(events[0], BadPdu) and not events[0].error.fatal
    assert isinstance(events[1], RequestReceived)
    nack = frames(session.data_to_send())[0]
    assert (nack.command, nack.status, nack.sequence) == ("generic_nack", codec.ESME_RINVCMDID, 99)


def test_a_command_length_of_zero_or_10_mb_loses_framing():
    for length in (0, 10 * 1024 * 1024):
        session = bound_session()
        events = session.receive_data(struct.pack(">LLLL", length, 4, 0, 3) + b"x" * 100)
        assert isinstance(events[0], BadPdu) and events[0].error.fatal and session.broken
        nack = frames(session.data_to_send())[0]
        assert (nack.command, nack.status) == ("generic_nack", codec.ESME_RINVCMDLEN)
        assert session.receive_data(codec.encode("deliver_sm", 1)) == []


def test_a_truncated_body_is_nacked_not_raised():
    session = bound_session()
    body = codec.encode("bind_transmitter", 3, system_id="abc", password="x")
    cut = struct.pack(">L", 20) + body[4:16] + b"ab\x00\x01"
    events = session.receive_data(cut)
    assert all(isinstance(e, (BadPdu, RequestReceived)) for e in events)


def test_requests_before_bind_are_refused_with_invalid_bind_status():
    session = Session()
    assert session.receive_data(codec.encode("submit_sm", 4, short_message=b"x")) == []
    reply = frames(session.data_to_send())[0]
    assert (reply.command, reply.status) == ("submit_sm_resp", codec.ESME_RINVBNDSTS)


def test_an_error_response_has_no_body():
    session = bound_session()
    session.send_response(codec.Pdu("submit_sm", 0, 12, {}), codec.ESME_RTHROTTLED)
    data = session.data_to_send()
    assert len(data) == 16 and frames(data)[0].status == codec.ESME_RTHROTTLED


def test_unanswered_requests_are_handed_back_and_unknown_responses_reported():
    session = bound_session()
    session.send_request("submit_sm", "a")
    session.send_request("submit_sm", "b")
    events = session.receive_data(codec.encode("submit_sm_resp", 9999, message_id="x"))
    assert isinstance(events[0], UnmatchedResponse)
    assert session.take_pending() == ["a", "b"] and session.outstanding == 0


def test_sequence_numbers_wrap_and_skip_outstanding_ones():
    session = bound_session()
    session._next_sequence = 0x7FFFFFFF
    assert session.send_request("enquire_link") == 0x7FFFFFFF
    assert session.send_request("enquire_link") == 1
