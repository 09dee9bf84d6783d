"""A part the carrier accepted is recorded however often the write fails: the write is tried
again, never the submit."""

from sqlalchemy.exc import OperationalError

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
