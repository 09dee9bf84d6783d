"""The dispatcher works per claimed batch: one batch's submit_sm go out together, and each
message of a batch still ends as it should (rejected, back to the queue, submitted, parts
in order)."""

import trio

from gatewayd.core.statuses import Status
from gatewayd.protocols.smpp import codec
from gatewayd.storage import messages as store
from tests.smpp.raw_smsc import RawSmsc

REJECTED, RETRIED = "32470000001", "32470000002"


async def _gateway(gateway_factory, nursery, smsc: RawSmsc, window: int = 64):
    port = await nursery.start(smsc.serve)
    carrier = f"host: 127.0.0.1\n    port: {port}\n    system_id: gw\n    window: {window}"
    return await gateway_factory(
        accounts_patch=lambda text: text.replace("simulator: {receipt_delay_s: 0}", carrier)
    )


def _messages(gateway, answer: dict) -> list:
    ids = [m["MessageId"] for m in answer["Messages"]]

    def read():
        with gateway.runtime.engine.connect() as connection:
            return [store.get_message(connection, message_id) for message_id in ids]

    return trio.to_thread.run_sync(read)


async def test_a_batch_of_messages_goes_out_in_far_fewer_writes_than_messages(
    gateway_factory, nursery
):
    smsc = RawSmsc()
    gateway = await _gateway(gateway_factory, nursery, smsc)
    recipients = [f"324710{n:05d}" for n in range(60)]
    answer = await gateway.send(to=",".join(recipients), message="one batch")
    await smsc.wait_for(60)
    assert sorted(pdu.text("destination_addr") for pdu in smsc.submits) == recipients
    assert len(smsc.submit_reads) <= 6, f"60 submit_sm came in {len(smsc.submit_reads)} reads"

    async def all_submitted():
        return all(m.status == Status.SUBMITTED for m in await _messages(gateway, answer))

    await gateway.wait_until(all_submitted)


async def test_each_message_of_a_batch_ends_as_its_answer_says(gateway_factory, nursery):
    smsc = RawSmsc({REJECTED: codec.ESME_RINVDSTADR, RETRIED: codec.ESME_RSYSERR})
    gateway = await _gateway(gateway_factory, nursery, smsc)
    long = "".join(f"part{n:03d} " for n in range(40))  # three parts
    recipients = [REJECTED, RETRIED, "32470000003", "32470000004"]
    short = await gateway.send(to=",".join(recipients[:3]), message="short")
    multipart = await gateway.send(to=recipients[3], message=long)

    async def settled():
        rejected, retried, accepted = await _messages(gateway, short)
        (long_one,) = await _messages(gateway, multipart)
        return (
            rejected.status == Status.REJECTED
            and retried.attempts == 1
            and accepted.status == Status.SUBMITTED
            and long_one.status == Status.SUBMITTED
        )

    await gateway.wait_until(settled)
    rejected, retried, accepted = await _messages(gateway, short)
    assert rejected.smpp_status == codec.ESME_RINVDSTADR and rejected.claimed_by is None
    assert retried.status == Status.QUEUED and retried.claimed_by is None
    assert retried.next_attempt_at is not None
    assert accepted.carrier == "sim" and accepted.time_submitted is not None
    parts = [p for p in smsc.submits if p.text("destination_addr") == recipients[3]]
    assert [p.get("short_message")[5] for p in parts] == [1, 2, 3], "the parts in order"
    sent = [p.text("destination_addr") for p in smsc.submits]
    assert sent.count(REJECTED) == 1 and sent.count("32470000003") == 1


async def test_a_throttled_message_goes_back_to_the_queue_when_the_carrier_vanishes(
    gateway_factory, nursery
):
    """Throttled after the hand-over bound (queue_wait_s, 5 s) had passed, the PDU is put
    back in line for after the bind's pause; the carrier then goes away for good. The message
    must not wait for a bind forever: it goes back to the queue within that bound again."""
    smsc = RawSmsc(
        {RETRIED: codec.ESME_RTHROTTLED}, vanish_after=codec.ESME_RTHROTTLED, vanish_delay_s=6
    )
    gateway = await _gateway(gateway_factory, nursery, smsc)
    answer = await gateway.send(to=RETRIED, message="throttled, then nobody")
    await smsc.wait_for(1)

    async def back_in_the_queue():
        (message,) = await _messages(gateway, answer)
        return message.attempts == 1 and message.claimed_by is None

    await gateway.wait_until(back_in_the_queue, timeout_s=20)
    (message,) = await _messages(gateway, answer)
    assert message.status == Status.QUEUED
    assert [p.text("destination_addr") for p in smsc.submits] == [RETRIED], "sent once"
