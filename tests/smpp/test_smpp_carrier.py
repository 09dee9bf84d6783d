"""Binds to a carrier over real sockets, against the simulator: submits, receipts, MO, failures."""

import trio

from gatewayd.core.receipts import parse_receipt
from gatewayd.protocols.smpp import codec
from gatewayd.protocols.smpp.client import Outcome
from gatewayd.protocols.smpp.simulator import SimulatorSettings

SUBMIT = {
    "source_addr": "8686",
    "source_addr_ton": 3,
    "destination_addr": "32470000001",
    "dest_addr_ton": 1,
    "dest_addr_npi": 1,
    "registered_delivery": 1,
    "short_message": b"hello",
}


async def test_submit_and_receive_the_receipt(start_smpp):
    simulator, carrier, inbox = await start_smpp()
    result = await carrier.submit(SUBMIT)
    assert result.outcome is Outcome.ACCEPTED and result.message_id
    assert simulator.submitted[0].fields["short_message"] == b"hello"
    await inbox.wait_for(1)
    receipt = parse_receipt(inbox.pdus[0].get("short_message"), inbox.pdus[0].fields)
    assert receipt.message_id == result.message_id and receipt.final


async def test_many_submits_through_several_binds_and_a_window(start_smpp):
    simulator, carrier, _ = await start_smpp(binds=2, window=8)
    results = []

    async def one(n):
        results.append(await carrier.submit({**SUBMIT, "short_message": b"m%d" % n}))

    async with trio.open_nursery() as nursery:
        for n in range(200):
            nursery.start_soon(one, n)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 200
    assert len({r.message_id for r in results}) == 200
    assert simulator.binds == 2


async def test_a_throttled_pdu_is_retried_after_a_pause(start_smpp, autojump_clock):
    simulator, carrier, _ = await start_smpp(SimulatorSettings(receipts=False, throttle_every=2))
    results = [await carrier.submit(SUBMIT) for _ in range(4)]
    assert all(r.outcome is Outcome.ACCEPTED for r in results)
    assert carrier.status_counts[codec.ESME_RTHROTTLED] >= 2
    assert len(simulator.submitted) == 4


async def test_a_throttled_pdu_is_not_sent_again_past_its_resend_deadline(
    start_smpp, autojump_clock
):
    """The dispatcher's claim would end before a resend after the pause: handed back instead
    (another node may claim the message meanwhile, and would send it too)."""
    simulator, carrier, _ = await start_smpp(SimulatorSettings(receipts=False, throttle_every=2))
    soon, later = trio.current_time() + 0.1, trio.current_time() + 60
    first, second = await carrier.submit_many([SUBMIT, SUBMIT], [later, soon])
    assert first.outcome is Outcome.ACCEPTED
    assert second.outcome is Outcome.RETRY and "too late" in second.reason
    assert carrier.status_counts[codec.ESME_RTHROTTLED] == 1
    assert len(simulator.submitted) == 1, "the throttled PDU was not sent again"
    first, second = await carrier.submit_many([SUBMIT, SUBMIT], [later, later])
    assert (first.outcome, second.outcome) == (Outcome.ACCEPTED, Outcome.ACCEPTED)
    assert len(simulator.submitted) == 3, "with time left, the throttled one went again"


async def test_a_connection_dropped_mid_window_hands_submits_back_and_rebinds(start_smpp):
    simulator, carrier, _ = await start_smpp(
        SimulatorSettings(receipts=False, drop_every=5), window=10
    )
    results = []

    async def one():
        results.append(await carrier.submit(SUBMIT))

    async with trio.open_nursery() as nursery:
        for _ in range(10):
            nursery.start_soon(one)
    outcomes = [r.outcome for r in results]
    assert Outcome.RETRY in outcomes, "the submits in flight on the dropped bind come back"
    assert set(outcomes) <= {Outcome.ACCEPTED, Outcome.RETRY} and len(results) == 10
    with trio.fail_after(10):
        await carrier.wait_healthy()
    assert (await carrier.submit(SUBMIT)).outcome in (Outcome.ACCEPTED, Outcome.RETRY)
    assert simulator.binds >= 2, "the carrier bound again"


async def test_a_slow_answer_is_waited_for_not_handed_back_to_be_sent_twice(
    start_smpp, autojump_clock
):
    """Past `queue_wait_s` a PDU a bind took is on the wire: retrying it would send it twice."""
    simulator, carrier, _ = await start_smpp(
        SimulatorSettings(receipts=False, answer_delay_s=2), queue_wait_s=1, response_timeout_s=5
    )
    result = await carrier.submit(SUBMIT)
    assert result.outcome is Outcome.ACCEPTED and result.message_id
    assert len(simulator.submitted) == 1


async def test_an_smsc_that_never_answers_times_out_as_retry(start_smpp, autojump_clock):
    _, carrier, _ = await start_smpp(SimulatorSettings(silent=True), response_timeout_s=2)
    result = await carrier.submit(SUBMIT)
    assert result.outcome is Outcome.RETRY and "no submit_sm_resp" in result.reason


async def test_a_refused_bind_is_retried_with_backoff(nursery, autojump_clock):
    from gatewayd.protocols.smpp.client import Carrier, CarrierSettings
    from gatewayd.protocols.smpp.simulator import Simulator
    from tests.smpp.conftest import Inbox

    simulator = Simulator(SimulatorSettings(system_id="right", password="pw"))
    host, port = await nursery.start(simulator.serve, "127.0.0.1", 0)
    settings = CarrierSettings(
        name="sim", host=host, port=port, system_id="wrong", reconnect_min_s=1, reconnect_max_s=4
    )
    carrier = Carrier(settings, Inbox().on_deliver)
    await nursery.start(carrier.run)
    await trio.sleep(20)
    assert not carrier.healthy() and simulator.binds == 0
    result = await carrier.submit(SUBMIT)
    assert result.outcome is Outcome.RETRY


async def test_mobile_originated_messages_reach_on_deliver_and_its_status_is_answered(start_smpp):
    simulator, _, inbox = await start_smpp()
    status = await simulator.inject_mo("32470000001", "8686", b"STOP")
    assert status == codec.ESME_ROK and inbox.pdus[0].get("short_message") == b"STOP"
    inbox.answer = codec.ESME_RX_T_APPN
    assert await simulator.inject_mo("32470000001", "8686", b"again") == codec.ESME_RX_T_APPN


async def test_a_silent_link_is_checked_with_enquire_link_then_dropped_and_rebound(
    nursery, autojump_clock
):
    """The SMSC binds us, then never answers again: enquire_link finds out, we reconnect."""
    from functools import partial

    from gatewayd.protocols.smpp.client import Carrier, CarrierSettings
    from gatewayd.protocols.smpp.session import RequestReceived, Session
    from tests.smpp.conftest import Inbox

    binds = []

    async def mute_smsc(stream):
        session = Session()
        async with stream:
            while data := await stream.receive_some(65536):
                answered_bind = False
                for event in session.receive_data(data):
                    if isinstance(event, RequestReceived) and event.pdu.command.startswith("bind"):
                        binds.append(event.pdu.command)
                        session.send_response(event.pdu, system_id="mute")
                        answered_bind = True
                reply = session.data_to_send()  # enquire_link_resp is dropped: the link is mute
                if answered_bind:
                    await stream.send_all(reply)

    listeners = await nursery.start(partial(trio.serve_tcp, mute_smsc, 0, host="127.0.0.1"))
    port = listeners[0].socket.getsockname()[1]
    carrier = Carrier(
        CarrierSettings(
            name="mute",
            host="127.0.0.1",
            port=port,
            system_id="gw",
            enquire_link_s=30,
            response_timeout_s=5,
            reconnect_min_s=1,
            reconnect_max_s=2,
        ),
        Inbox().on_deliver,
    )
    await nursery.start(carrier.run)
    await carrier.wait_healthy()
    await trio.sleep(30 + 5 + 3)
    assert binds.count("bind_transceiver") >= 2, "the dead link was replaced by a new bind"


async def test_binds_over_tls_and_a_certificate_that_is_not_trusted_is_refused(nursery):
    import ssl

    import trustme

    from gatewayd.protocols.smpp.client import Carrier, CarrierSettings
    from gatewayd.protocols.smpp.simulator import Simulator
    from tests.smpp.conftest import Inbox

    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    simulator = Simulator(SimulatorSettings(receipt_delay_s=0))
    host, port = await nursery.start(
        lambda task_status: simulator.serve("127.0.0.1", 0, task_status, tls=server_context)
    )

    def settings(verify: bool) -> CarrierSettings:
        return CarrierSettings(
            name="tls",
            host=host,
            port=port,
            system_id="gw",
            tls=True,
            tls_verify=verify,
            reconnect_min_s=0.05,
            reconnect_max_s=0.1,
        )

    trusting = Carrier(settings(False), Inbox().on_deliver)
    await nursery.start(trusting.run)
    with trio.fail_after(10):
        await trusting.wait_healthy()
    assert (await trusting.submit(SUBMIT)).outcome is Outcome.ACCEPTED
    assert simulator.submitted[0].fields["short_message"] == b"hello"

    verifying = Carrier(settings(True), Inbox().on_deliver)
    await nursery.start(verifying.run)
    binds_before = simulator.binds
    with trio.move_on_after(1):
        await verifying.wait_healthy()
    assert not verifying.healthy() and simulator.binds == binds_before


async def test_a_carrier_that_cannot_be_reached_is_logged_with_its_host_and_port(nursery, caplog):
    from gatewayd.protocols.smpp.client import Carrier, CarrierSettings
    from tests.daemon.conftest import free_port
    from tests.smpp.conftest import Inbox

    port = free_port()
    settings = CarrierSettings(
        name="away", host="127.0.0.1", port=port, system_id="gw", reconnect_min_s=60
    )
    carrier = Carrier(settings, Inbox().on_deliver)
    await nursery.start(carrier.run)
    with trio.fail_after(10):
        while not any("away#" in r.getMessage() for r in caplog.records):
            await trio.sleep(0.01)
    line = next(r.getMessage() for r in caplog.records if "away#" in r.getMessage())
    assert f"(127.0.0.1:{port})" in line, line
