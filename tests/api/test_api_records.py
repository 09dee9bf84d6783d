"""The records the API hands out, checked against RingRing's webhook article and clients:
field types (StatusCode a string, MessageId a GUID, times 'yyyy-MM-dd HH:mm:ss'), the sandbox's
polling apart from live polling, and the Reference of an incoming message."""

import re
import uuid

from gatewayd.core.statuses import Status
from tests.gateway import KEY

TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


async def send(gateway, path: str, **fields) -> str:
    body = {"apiKey": KEY, "to": "32470000001", "message": "x", **fields}
    answer = (await gateway.client.post(path, json=body)).json()
    return answer["Messages"][0]["MessageId"]


async def poll(gateway, path: str) -> list[dict]:
    page = (await gateway.client.post(path, json={"apiKey": KEY, "maxRecords": 1000})).json()
    return page["StatusMessages"]


async def test_status_records_carry_ringring_types(gateway):
    message_id = await send(gateway, "/sms/v1/Message", timeScheduled="31-12-2099 10:00")
    assert str(uuid.UUID(message_id)) == message_id, "the Java client's UUID parser takes it"
    status = await gateway.status_of(message_id)
    assert status["StatusCode"] == Status.SCHEDULED.code and isinstance(status["StatusCode"], str)
    assert status["TimeScheduled"] == "2099-12-31 10:00:00", "local to the application"
    assert isinstance(status["ResultCode"], int) and isinstance(status["NumberOfParts"], int)
    sent_now = await send(gateway, "/sms/v1/Message")

    async def delivered():
        return (await gateway.status_of(sent_now))["StatusCode"] == Status.DELIVERED.code

    await gateway.wait_until(delivered)
    polled = await poll(gateway, "/sms/v1/Status")
    assert [(r["MessageId"], r["StatusCode"]) for r in polled] == [
        (sent_now, Status.SUBMITTED.code),
        (sent_now, Status.DELIVERED.code),
    ]
    times = [polled[1][key] for key in ("TimeScheduled", "TimeSubmitted", "DeliveryTime")]
    assert all(TIME.fullmatch(t) for t in times), times
    assert times == sorted(times), "not scheduled: TimeScheduled is when it was accepted"


async def test_sandbox_polling_hands_out_sandbox_records_only_and_live_polling_live_only(gateway):
    live = await send(gateway, "/sms/v1/Message")
    sandboxed = await send(gateway, "/sms/sandbox/Message")

    async def both_delivered():
        answers = [
            (
                await gateway.client.get(
                    f"{path}/StatusMessage", params={"apiKey": KEY, "messageId": i}
                )
            )
            .json()
            .get("StatusCode")
            for path, i in [("/sms/v1", live), ("/sms/sandbox", sandboxed)]
        ]
        return answers == [Status.DELIVERED.code] * 2

    await gateway.wait_until(both_delivered)
    live_records = await poll(gateway, "/sms/v1/Status")
    sandbox_records = await poll(gateway, "/sms/sandbox/Status")
    assert {r["MessageId"] for r in live_records} == {live}
    assert [(r["MessageId"], r["StatusCode"]) for r in sandbox_records] == [
        (sandboxed, Status.DELIVERED.code)
    ]
    assert await poll(gateway, "/sms/sandbox/Status") == [], "each record is handed out once"


async def test_an_incoming_message_carries_the_reference_of_the_last_message_sent_to_that_user(
    gateway,
):
    await send(gateway, "/sms/v1/Message", reference="order-1")
    await send(gateway, "/sms/v1/Message", reference="order-2")
    await send(gateway, "/sms/sandbox/Message", reference="only-a-test")
    await send(gateway, "/sms/v1/Message", to="32470000002", reference="someone-else")
    await gateway.simulator.inject_mo("32470000001", "8686", b"yes please")
    await gateway.simulator.inject_mo("32470000003", "8686", b"who are you")

    async def both_stored():
        page = (await gateway.client.post("/sms/v1/Incoming", json={"apiKey": KEY})).json()
        both_stored.records += page["IncomingMessages"]
        return len(both_stored.records) == 2

    both_stored.records = []
    await gateway.wait_until(both_stored)
    references = {r["From"]: r["Reference"] for r in both_stored.records}
    assert references == {"32470000001": "order-2", "32470000003": None}
    assert all(TIME.fullmatch(r["TimeReceived"]) for r in both_stored.records)
