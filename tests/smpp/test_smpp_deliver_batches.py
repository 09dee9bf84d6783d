"""A carrier's deliver_sm are stored and answered in batches: what one write of the carrier
brings is one write of the storage and one send of deliver_sm_resps, each sent only once
the batch has committed, each PDU with its own status. Against an SMSC on a raw socket, so
that the test sees every read its answers take."""

from functools import partial

import trio
from sqlalchemy import func, select

from gatewayd.protocols.smpp import codec
from gatewayd.protocols.smpp.codec import Pdu
from gatewayd.protocols.smpp.session import RequestReceived, Session, UnmatchedResponse
from gatewayd.storage.tables import incoming_messages, receipts
from tests.storage_outage import StorageOutage

SIM_CARRIER = "    simulator: {receipt_delay_s: 0}\n"


class RawSmsc:
    """Binds the gateway's carrier `raw`, then sends what a test gives it in one write and
    reads the answers, counting the reads they took."""

    def __init__(self) -> None:
        self.session = Session()
        self.stream: trio.SocketStream | None = None
        self.bound = trio.Event()
        self._sequence = 1000

    async def handle(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        while not self.bound.is_set():
            data = await stream.receive_some(65536)
            if not data:
                return
            for event in self.session.receive_data(data):
                if isinstance(event, RequestReceived) and event.pdu.command.startswith("bind"):
                    self.session.send_response(event.pdu, system_id="raw")
                    await stream.send_all(self.session.data_to_send())
                    self.bound.set()
        await trio.sleep_forever()

    def deliver_sm(self, **fields) -> bytes:
        self._sequence += 1
        return codec.encode("deliver_sm", self._sequence, **fields)

    async def exchange(self, data: bytes, answers: int) -> tuple[list[Pdu], int]:
        """Send `data` in one write; the first `answers` responses and the reads they took."""
        assert self.stream is not None
        await self.stream.send_all(data)
        responses: list[Pdu] = []
        reads = 0
        with trio.fail_after(15):
            while len(responses) < answers:
                chunk = await self.stream.receive_some(65536)
                assert chunk, "the gateway closed the connection"
                reads += 1
                for event in self.session.receive_data(chunk):
                    if isinstance(event, UnmatchedResponse):
                        responses.append(event.pdu)
        return responses, reads


def receipt(carrier_id: str, stat: str = "DELIVRD") -> dict:
    text = f"id:{carrier_id} sub:001 dlvrd:001 submit date:2612021200 done date:2612021200"
    return {
        "source_addr": "32470000001",
        "destination_addr": "8686",
        "esm_class": 0x04,
        "short_message": f"{text} stat:{stat} err:000 text:".encode(),
        "receipted_message_id": carrier_id,
        "message_state": 2,
    }


def mobile_originated(text: bytes) -> dict:
    return {"source_addr": "32470000001", "destination_addr": "8686", "short_message": text}


async def start(gateway_factory, nursery) -> tuple[object, RawSmsc]:
    smsc = RawSmsc()
    (listener,) = await nursery.start(partial(trio.serve_tcp, smsc.handle, 0, host="127.0.0.1"))
    port = listener.socket.getsockname()[1]
    raw = f"  - {{name: raw, host: 127.0.0.1, port: {port}, system_id: gw, password: pw}}\n"
    gateway = await gateway_factory(
        accounts_patch=lambda text: text.replace(SIM_CARRIER, SIM_CARRIER + raw)
    )
    with trio.fail_after(10):
        await smsc.bound.wait()
    return gateway, smsc


def stored_receipt_ids(engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.execute(select(receipts.c.carrier_message_id)).scalars())


def stored_bodies(engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.execute(select(incoming_messages.c.body)).scalars())


async def test_receipts_of_one_write_are_stored_together_and_answered_in_one_send(
    gateway_factory, nursery
):
    gateway, smsc = await start(gateway_factory, nursery)
    engine = gateway.runtime.engine
    writes_before = gateway.runtime.writer.operations
    ids = [f"batch-{n}" for n in range(40)]
    data = b"".join(smsc.deliver_sm(**receipt(carrier_id)) for carrier_id in ids)
    responses, reads = await smsc.exchange(data, len(ids))
    # Read at once, before anything else commits: the receipts were stored before the answer.
    assert stored_receipt_ids(engine) == set(ids), "every receipt committed before its answer"
    assert reads == 1, "the answers of one write leave in one send"
    assert [(r.command, r.status) for r in responses] == [("deliver_sm_resp", 0)] * len(ids)
    sequences = [r.sequence for r in responses]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(ids)
    assert gateway.runtime.writer.operations - writes_before < len(ids) / 4, "one write, not 40"
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(receipts)).scalar() == 40


async def test_an_mo_among_receipts_is_stored_in_the_same_batch(gateway_factory, nursery):
    gateway, smsc = await start(gateway_factory, nursery)
    data = (
        smsc.deliver_sm(**receipt("mixed-1"))
        + smsc.deliver_sm(**mobile_originated(b"hello from a phone"))
        + smsc.deliver_sm(**receipt("mixed-2"))
    )
    responses, reads = await smsc.exchange(data, 3)
    assert [r.status for r in responses] == [codec.ESME_ROK] * 3 and reads == 1
    assert stored_bodies(gateway.runtime.engine) == {"hello from a phone"}
    assert stored_receipt_ids(gateway.runtime.engine) == {"mixed-1", "mixed-2"}


async def test_a_malformed_pdu_is_nacked_alone_and_the_rest_of_its_batch_is_stored(
    gateway_factory, nursery
):
    gateway, smsc = await start(gateway_factory, nursery)
    garbage = codec.encode("enquire_link", 77)[:4] + b"\x00\x00\x00\xff" + bytes(8)
    data = smsc.deliver_sm(**receipt("around-1")) + garbage + smsc.deliver_sm(**receipt("around-2"))
    responses, _ = await smsc.exchange(data, 3)
    by_command = sorted((r.command, r.status) for r in responses)
    assert by_command == [
        ("deliver_sm_resp", codec.ESME_ROK),
        ("deliver_sm_resp", codec.ESME_ROK),
        ("generic_nack", codec.ESME_RINVCMDID),
    ]
    assert stored_receipt_ids(gateway.runtime.engine) == {"around-1", "around-2"}


async def test_a_pdu_that_cannot_be_stored_fails_alone_not_its_batch(
    gateway_factory, nursery, monkeypatch
):
    """A PDU whose write fails for a reason of its own (not the storage's): its batch is
    written again one PDU at a time, and only that one gets an error."""
    gateway, smsc = await start(gateway_factory, nursery)
    inbound = gateway.runtime.inbound
    store_mo = inbound._store_mo

    def failing(connection, carrier, pdu, data):
        if data == b"poison":
            raise ValueError("this one cannot be stored")
        store_mo(connection, carrier, pdu, data)

    monkeypatch.setattr(inbound, "_store_mo", failing)
    data = (
        smsc.deliver_sm(**receipt("beside-1"))
        + smsc.deliver_sm(**mobile_originated(b"poison"))
        + smsc.deliver_sm(**mobile_originated(b"fine"))
    )
    responses, _ = await smsc.exchange(data, 3)
    assert [r.status for r in responses] == [codec.ESME_ROK, codec.ESME_RX_T_APPN, codec.ESME_ROK]
    assert stored_bodies(gateway.runtime.engine) == {"fine"}
    assert stored_receipt_ids(gateway.runtime.engine) == {"beside-1"}


async def test_a_batch_the_storage_refuses_is_answered_with_a_temporary_error_and_not_stored(
    gateway_factory, nursery
):
    """During an outage a batch is refused whole (ESME_RX_T_APPN, the carrier sends it again)
    or stored whole; once the storage is back the same receipts are stored. (A full SQLite
    database still takes a small write now and then: batches are sent until one is refused.)"""
    gateway, smsc = await start(gateway_factory, nursery)
    engine = gateway.runtime.engine
    outage = StorageOutage(engine)
    accepted: list[str] = []
    refused: list[str] = []
    await trio.to_thread.run_sync(outage.begin)
    try:
        for n in range(50):
            ids = [f"outage-{n}-{k}" for k in range(5)]
            data = b"".join(smsc.deliver_sm(**receipt(carrier_id)) for carrier_id in ids)
            responses, _ = await smsc.exchange(data, len(ids))
            statuses = {r.status for r in responses}
            assert len(statuses) == 1, "a batch the storage refuses is refused whole"
            if statuses == {codec.ESME_RX_T_APPN}:
                refused = ids
                break
            accepted += ids
    finally:
        await trio.to_thread.run_sync(outage.end)
    assert refused, "no batch was refused: the outage was not felt"
    assert stored_receipt_ids(engine) == set(accepted), "nothing of the refused batch stored"
    data = b"".join(smsc.deliver_sm(**receipt(carrier_id)) for carrier_id in refused)
    responses, _ = await smsc.exchange(data, len(refused))
    assert [r.status for r in responses] == [codec.ESME_ROK] * len(refused)
    assert stored_receipt_ids(engine) == set(accepted) | set(refused)
