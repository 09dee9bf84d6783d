"""A carrier submits many PDUs at once: those that fit a bind's window go out in one write,
their responses are matched without a task each, and the window is never exceeded."""

import trio

from gatewayd.protocols.smpp import codec
from gatewayd.protocols.smpp.client import Carrier, CarrierSettings, Outcome
from tests.smpp.raw_smsc import RawSmsc

SUBMIT = {
    "source_addr": "8686",
    "source_addr_ton": 3,
    "dest_addr_ton": 1,
    "dest_addr_npi": 1,
    "short_message": b"hello",
}


async def _carrier(nursery, smsc: RawSmsc, **overrides) -> Carrier:
    port = await nursery.start(smsc.serve)

    async def no_deliver(carrier: str, pdu: codec.Pdu) -> int:
        return codec.ESME_ROK

    settings = CarrierSettings(name="raw", host="127.0.0.1", port=port, system_id="gw", **overrides)
    carrier = Carrier(settings, no_deliver)
    await nursery.start(carrier.run)
    with trio.fail_after(10):
        await carrier.wait_healthy()
    return carrier


def _submits(count: int) -> list[dict]:
    return [{**SUBMIT, "destination_addr": f"3247{n:07d}"} for n in range(count)]


async def test_a_window_of_submits_goes_out_in_one_write(nursery):
    smsc = RawSmsc()
    carrier = await _carrier(nursery, smsc, window=64)
    results = await carrier.submit_many(_submits(50))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 50
    assert [r.message_id for r in results] == [f"raw{n}" for n in range(1, 51)], "in order"
    assert len(smsc.submit_reads) <= 2, f"50 submit_sm in {len(smsc.submit_reads)} reads"


async def test_more_than_a_window_never_has_more_than_a_window_outstanding(nursery):
    smsc = RawSmsc()
    carrier = await _carrier(nursery, smsc, window=8)
    results = await carrier.submit_many(_submits(40))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 40
    assert smsc.most_outstanding == 8
    assert len(smsc.submit_reads) < 40


async def test_each_submit_of_a_batch_gets_its_own_outcome(nursery):
    rejected, retried = "32470000001", "32470000002"
    smsc = RawSmsc({rejected: codec.ESME_RINVDSTADR, retried: codec.ESME_RSYSERR})
    carrier = await _carrier(nursery, smsc)
    destinations = [rejected, retried, "32470000003"]
    results = await carrier.submit_many([{**SUBMIT, "destination_addr": d} for d in destinations])
    assert [r.outcome for r in results] == [Outcome.REJECTED, Outcome.RETRY, Outcome.ACCEPTED]
    assert results[0].status == codec.ESME_RINVDSTADR
    assert results[2].message_id == "raw3"
