"""The SMPP server's limits over real sockets: a submit_sm whose sm_length promises more
than it carries is refused, connections are capped, and a connection must bind in time."""

import struct

import trio

from gatewayd.protocols.smpp import codec
from tests.smpp.test_smpp_front_door import SMPP_APP

BIND = {"system_id": "shop", "password": "pw-shop", "interface_version": 0x34}
SUBMIT = {"source_addr": "8686", "destination_addr": "32470000001", "short_message": b"hello"}


def with_limits(max_connections: int = 100, bind_timeout_s: float = 10) -> callable:
    def patch(text: str) -> str:
        return text.replace("        max_parts: 3", "        max_parts: 3" + SMPP_APP) + (
            f'\nsmpp_server: {{listen: ["127.0.0.1:0"], max_connections: {max_connections}, '
            f"bind_timeout_s: {bind_timeout_s}}}\n"
        )

    return patch


async def read_pdu(stream: trio.SocketStream) -> codec.Pdu | None:
    """The next PDU from the server, or None when it closed the connection."""
    data = b""
    while len(data) < 16 or len(data) < struct.unpack(">L", data[:4])[0]:
        try:
            chunk = await stream.receive_some(65536)
        except trio.BrokenResourceError:  # closed with a reset
            return None
        if not chunk:
            return None
        data += chunk
    return codec.decode(data)


async def bound_stream(port: int) -> trio.SocketStream:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(codec.encode("bind_transceiver", 1, **BIND))
    with trio.fail_after(5):
        answer = await read_pdu(stream)
    assert (answer.command, answer.status) == ("bind_transceiver_resp", codec.ESME_ROK)
    return stream


async def test_a_submit_whose_sm_length_exceeds_its_text_is_refused(gateway_factory):
    gateway = await gateway_factory(accounts_patch=with_limits())
    stream = await bound_stream(gateway.smpp_port)
    good = codec.encode("submit_sm", 2, **SUBMIT)
    at = good.index(b"\x05hello")
    cut = good[:at] + b"\x40" + good[at + 1 :]  # sm_length 64, five octets follow
    async with stream:
        await stream.send_all(cut)
        with trio.fail_after(5):
            answer = await read_pdu(stream)
        assert (answer.sequence, answer.status) == (2, codec.ESME_RINVMSGLEN)
        await stream.send_all(good[:8] + struct.pack(">LL", 0, 3) + good[16:])
        with trio.fail_after(5):
            accepted = await read_pdu(stream)
        assert (accepted.command, accepted.sequence, accepted.status) == (
            "submit_sm_resp",
            3,
            codec.ESME_ROK,
        )
    await gateway.simulator.wait_until(lambda: len(gateway.simulator.submitted) == 1)
    assert [s.fields["short_message"] for s in gateway.simulator.submitted] == [b"hello"]


async def test_connections_beyond_max_connections_are_closed_at_once(gateway_factory):
    gateway = await gateway_factory(accounts_patch=with_limits(max_connections=2))
    first = await bound_stream(gateway.smpp_port)
    second = await bound_stream(gateway.smpp_port)
    third = await trio.open_tcp_stream("127.0.0.1", gateway.smpp_port)
    with trio.fail_after(5):
        assert await read_pdu(third) is None, "the third connection is closed"
    await second.aclose()
    with trio.fail_after(5):  # a slot is free once the server has seen the close
        while (fourth := await try_bind(gateway.smpp_port)) is None:
            pass
    await first.send_all(codec.encode("enquire_link", 9))
    with trio.fail_after(5):
        assert (await read_pdu(first)).command == "enquire_link_resp"
    await first.aclose()
    await fourth.aclose()


async def try_bind(port: int) -> trio.SocketStream | None:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    try:
        await stream.send_all(codec.encode("bind_transceiver", 1, **BIND))
    except trio.BrokenResourceError:
        answer = None
    else:
        answer = await read_pdu(stream)
    if answer is None:
        await stream.aclose()
        return None
    assert answer.status == codec.ESME_ROK
    return stream


async def test_a_connection_that_does_not_bind_in_time_is_closed(gateway_factory):
    gateway = await gateway_factory(accounts_patch=with_limits(bind_timeout_s=0.5))
    bound = await bound_stream(gateway.smpp_port)
    idle = await trio.open_tcp_stream("127.0.0.1", gateway.smpp_port)
    opened = trio.current_time()
    with trio.fail_after(5):
        assert await read_pdu(idle) is None
    assert trio.current_time() - opened >= 0.45
    await bound.send_all(codec.encode("enquire_link", 9))
    with trio.fail_after(5):
        assert (await read_pdu(bound)).command == "enquire_link_resp", "bound ones stay"
    await bound.aclose()
