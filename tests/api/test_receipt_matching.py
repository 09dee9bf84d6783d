"""Receipts and parts meet in any order, across id formats; none is dropped."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from gatewayd.core.receipts import Receipt, ReceiptState
from gatewayd.core.statuses import Status
from gatewayd.protocols.smpp.simulator import SimulatorSettings
from gatewayd.storage import messages as store
from gatewayd.storage.tables import message_parts, receipts
from tests.gateway import KEY

SUBMITTED, DELIVERED = Status.SUBMITTED.code, Status.DELIVERED.code


def _unmatched_total(runtime) -> float:
    value = runtime.metrics.registry.get_sample_value("gatewayd_receipts_unmatched_total")
    assert value is not None
    return value


async def _submitted(gateway, text="hello"):
    answer = await gateway.send(to="32470000001", message=text)
    return answer["Messages"][0]["MessageId"]


async def test_a_receipt_for_an_unknown_id_is_stored_unmatched(gateway):
    matcher = gateway.runtime.receipts
    matched = await matcher.apply("sim", Receipt("no-such-id", ReceiptState.DELIVERED), "raw")
    assert not matched and matcher.unmatched == 0, "it may still find its part"
    with gateway.runtime.engine.connect() as connection:
        row = connection.execute(select(receipts)).one()
    assert (row.carrier_message_id, row.time_matched) == ("no-such-id", None)


async def test_an_unmatched_receipt_expires_and_never_attaches_to_a_later_message(gateway):
    """A receipt no part took waits a bounded time, is then counted unmatched, and a later
    message to which the carrier gives the same id does not take it."""
    runtime, matcher = gateway.runtime, gateway.runtime.receipts
    await matcher.apply("sim", Receipt("555001", ReceiptState.DELIVERED), "stale")
    assert await matcher.expiry.sweep() == 0 and matcher.unmatched == 0, "still waiting"
    runtime.clock.advance(timedelta(minutes=6))
    assert await matcher.expiry.sweep() == 1 and matcher.unmatched == 1
    assert _unmatched_total(runtime) == 1
    gateway.simulator.settings = SimulatorSettings(receipts=False, first_id=555001)
    message_id = await _submitted(gateway)

    async def submitted():
        return (await gateway.status_of(message_id))["StatusCode"] == SUBMITTED

    await gateway.wait_until(submitted)
    assert gateway.simulator.submitted[0].message_id == "555001"
    with runtime.engine.connect() as connection:
        row = connection.execute(select(receipts)).one()
        part = connection.execute(select(message_parts)).one()
    assert row.time_matched is None and row.time_expired is not None
    assert part.state == "submitted", "the stale receipt did not deliver the new message"


@pytest.mark.parametrize("receipt_first", [False, True], ids=["after-response", "before-response"])
async def test_a_reused_carrier_id_gives_the_receipt_to_the_new_part_not_the_final_one(
    gateway_factory, receipt_first
):
    """Carriers reuse ids: a receipt is for the part still waiting for one, not for the
    older, final part with the same id (the receipt before or after the submit_sm_resp)."""
    gateway = await gateway_factory()
    gateway.simulator.settings = SimulatorSettings(
        receipt_delay_s=0, first_id=900001, id_cycle=1, receipt_before_response=receipt_first
    )
    ids = [await _submitted(gateway, "delivered first")]

    async def delivered():
        return all([(await gateway.status_of(i))["StatusCode"] == DELIVERED for i in ids])

    await gateway.wait_until(delivered)
    ids.append(await _submitted(gateway, "delivered later"))
    await gateway.wait_until(delivered)
    assert [s.message_id for s in gateway.simulator.submitted] == ["900001", "900001"]
    assert gateway.runtime.receipts.unmatched == 0


async def test_a_reused_carrier_id_gives_the_receipt_to_the_part_submitted_last(gateway):
    """Both parts with the id still wait (the first one's receipt was lost): the receipt
    that comes now is for the one submitted last."""
    gateway.simulator.settings = SimulatorSettings(receipts=False, first_id=900001, id_cycle=1)
    lost = await _submitted(gateway, "its receipt is lost")

    async def submitted():
        return (await gateway.status_of(lost))["StatusCode"] == SUBMITTED

    await gateway.wait_until(submitted)
    gateway.simulator.settings = SimulatorSettings(receipt_delay_s=0, first_id=900001, id_cycle=1)
    later = await _submitted(gateway, "delivered")

    async def delivered():
        return (await gateway.status_of(later))["StatusCode"] == DELIVERED

    await gateway.wait_until(delivered)
    assert (await gateway.status_of(lost))["StatusCode"] == SUBMITTED


async def test_a_receipt_that_overtakes_the_submit_response_is_applied_later(gateway_factory):
    gateway = await gateway_factory()
    gateway.simulator.settings.receipts = False
    matcher = gateway.runtime.receipts
    await matcher.apply("sim", Receipt("777001", ReceiptState.DELIVERED), "early")
    gateway.simulator.settings.first_id = 777001
    message_id = await _submitted(gateway)

    async def delivered():
        return (await gateway.status_of(message_id))["StatusCode"] == Status.DELIVERED.code

    await gateway.wait_until(delivered)
    with gateway.runtime.engine.connect() as connection:
        row = connection.execute(select(receipts)).one()
    assert row.time_matched is not None
    polled = (await gateway.client.post("/sms/v1/Status", json={"apiKey": KEY})).json()
    codes = [r["StatusCode"] for r in polled["StatusMessages"] if r["MessageId"] == message_id]
    assert codes == [Status.SUBMITTED.code, Status.DELIVERED.code], (
        "Submitted too, before Delivered, though the receipt came first"
    )


async def test_hex_ids_in_responses_and_decimal_ids_in_receipts_match(gateway_factory):
    gateway = await gateway_factory(
        accounts_patch=lambda text: text.replace(
            "simulator: {receipt_delay_s: 0}", "simulator: {receipt_delay_s: 0, hex_ids: true}"
        )
    )
    message_id = await _submitted(gateway)

    async def delivered():
        return (await gateway.status_of(message_id))["StatusCode"] == Status.DELIVERED.code

    await gateway.wait_until(delivered)
    with gateway.runtime.engine.connect() as connection:
        part = connection.execute(select(message_parts)).one()
    hex_id = gateway.simulator.submitted[0].message_id
    assert part.carrier_message_id == hex_id and part.state == "delivered"
    assert str(int(hex_id, 16)) != hex_id, "the receipt carried the decimal reading"


async def test_an_undeliverable_part_fails_the_whole_message(gateway_factory):
    gateway = await gateway_factory(
        accounts_patch=lambda text: text.replace(
            "simulator: {receipt_delay_s: 0}", "simulator: {receipt_delay_s: 0, delivered_ratio: 0}"
        )
    )
    message_id = await _submitted(gateway, "x" * 200)

    async def failed():
        return (await gateway.status_of(message_id))["StatusCode"] == Status.UNDELIVERABLE.code

    await gateway.wait_until(failed)
    status = await gateway.status_of(message_id)
    assert "UNDELIV" in status["StatusDescription"] and status["DeliveryTime"]


async def test_an_expired_message_is_never_sent(gateway):
    runtime = gateway.runtime
    answer = await gateway.send(
        to="32470000001",
        message="late",
        timeScheduled="01-01-2099 10:00",
        timeValidity="01-01-2099 11:00",
    )
    message_id = answer["Messages"][0]["MessageId"]
    from datetime import UTC, datetime

    runtime.clock.set(datetime(2099, 1, 2, tzinfo=UTC))

    async def expired():
        return (await gateway.status_of(message_id))["StatusCode"] == Status.EXPIRED.code

    runtime.dispatcher.wake()
    await gateway.wait_until(expired)
    assert gateway.simulator.submitted == []
    with runtime.engine.connect() as connection:
        assert store.get_message(connection, message_id).time_done is not None


async def test_a_throttling_smsc_still_gets_everything_once_accepted(gateway_factory):
    gateway = await gateway_factory()
    gateway.simulator.settings = SimulatorSettings(receipt_delay_s=0, throttle_every=3)
    ids = [await _submitted(gateway, f"m{n}") for n in range(6)]

    async def all_delivered():
        return all(
            [(await gateway.status_of(i))["StatusCode"] == Status.DELIVERED.code for i in ids]
        )

    await gateway.wait_until(all_delivered, timeout_s=30)
    bodies = sorted(s.fields["short_message"] for s in gateway.simulator.submitted)
    assert bodies == sorted(f"m{n}".encode() for n in range(6))


async def test_a_carrier_that_drops_the_connection_mid_window_loses_nothing(gateway_factory):
    gateway = await gateway_factory()
    gateway.simulator.settings = SimulatorSettings(receipt_delay_s=0, drop_every=4)
    ids = [await _submitted(gateway, f"d{n}") for n in range(8)]

    async def all_delivered():
        return all(
            [(await gateway.status_of(i))["StatusCode"] == Status.DELIVERED.code for i in ids]
        )

    await gateway.wait_until(all_delivered, timeout_s=60)
    sent = {s.fields["short_message"] for s in gateway.simulator.submitted}
    assert sent == {f"d{n}".encode() for n in range(8)}


async def test_a_message_whose_receipt_never_comes_ends_unknown_after_its_validity(gateway):
    from datetime import timedelta

    from gatewayd.core.receipt_deadline import ReceiptDeadline

    gateway.simulator.settings.receipts = False
    message_id = await _submitted(gateway)

    async def submitted():
        return (await gateway.status_of(message_id))["StatusCode"] == Status.SUBMITTED.code

    await gateway.wait_until(submitted)
    runtime = gateway.runtime
    deadline = ReceiptDeadline(runtime.holder, runtime.writer, runtime.clock)
    assert await deadline.sweep() == 0, "still within its validity"
    runtime.clock.advance(timedelta(hours=72 + 2))
    assert await deadline.sweep() == 1
    status = await gateway.status_of(message_id)
    assert (
        status["StatusCode"] == Status.UNKNOWN.code
        and "no delivery receipt" in status["StatusDescription"]
    )
    assert await deadline.sweep() == 0
