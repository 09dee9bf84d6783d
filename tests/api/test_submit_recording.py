"""A part the carrier accepted is recorded however often the write fails: the write is tried
again, never the submit."""

from sqlalchemy.exc import IntegrityError, OperationalError

from gatewayd.core import receipt_matching
from gatewayd.core.statuses import Status
from gatewayd.storage import messages as store


async def test_a_part_whose_record_fails_is_written_again_not_submitted_again(gateway, monkeypatch):
    failures = 3
    record_parts = store.record_parts

    def failing_record_parts(connection, rows):
        # The storage error a full disk gives, for the first few attempts only.
        nonlocal failures
        if failures:
            failures -= 1
            raise OperationalError("INSERT INTO message_parts", {}, Exception("disk is full"))
        record_parts(connection, rows)

    monkeypatch.setattr(store, "record_parts", failing_record_parts)
    answer = await gateway.send(to="32470000001", message="accepted once")
    message_id = answer["Messages"][0]["MessageId"]

    async def delivered():
        return (await gateway.status_of(message_id))["StatusCode"] == Status.DELIVERED.code

    await gateway.wait_until(delivered, timeout_s=15)
    assert failures == 0, "the record did fail"
    assert len(gateway.simulator.submitted) == 1, "the carrier saw the message once"


async def test_a_part_the_storage_refuses_holds_up_none_recorded_with_it(gateway, monkeypatch):
    """Three messages in one round, so their parts are recorded by one call: the part whose
    record fails (a row the storage refuses, not an outage) is written again alone while the
    other two are recorded at once; then it is recorded too, and nothing is sent twice."""
    refused = {"32470000002"}
    attempts = 0
    run_bulk = receipt_matching._RecordParts.run_bulk

    def refusing_run_bulk(self, connection, parts):
        nonlocal attempts
        if any(part.message.recipient in refused for part in parts):
            attempts += 1
            raise IntegrityError("INSERT INTO message_parts", {}, Exception("refused"))
        return run_bulk(self, connection, parts)

    monkeypatch.setattr(receipt_matching._RecordParts, "run_bulk", refusing_run_bulk)
    answer = await gateway.send(to="32470000001,32470000002,32470000003", message="one round")
    good, bad, other = (m["MessageId"] for m in answer["Messages"])

    async def submitted(message_id: str) -> bool:
        return (await gateway.status_of(message_id))["StatusCode"] != Status.QUEUED.code

    async def good_ones_recorded() -> bool:
        return await submitted(good) and await submitted(other) and attempts >= 3

    await gateway.wait_until(good_ones_recorded)
    assert not await submitted(bad), "its record still fails"
    assert len(gateway.simulator.submitted) == 3, "one round of three"
    refused.clear()
    await gateway.wait_until(lambda: submitted(bad))
    assert len(gateway.simulator.submitted) == 3, "none submitted again"
