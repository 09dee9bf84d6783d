"""The exact request shapes of the public RingRing client libraries (C#, PHP, Node.js)."""

import json
import re

from gatewayd.core.statuses import Status
from tests.gateway import KEY


async def test_csharp_client_shape_pascal_case_nulls_and_numeric_encoding(gateway):
    body = {
        "ApiKey": KEY,
        "To": "32470000001",
        "Message": "Hello from C#",
        "From": None,
        "SenderId": None,
        "TimeValidity": None,
        "TimeScheduled": None,
        "Reference": "cs-1",
        "ReplaceIfPresent": None,
        "StatusUrl": None,
        "StatusMethod": None,
        "StatusFormat": None,
        "MessageEncoding": 0,
    }
    response = await gateway.client.post(
        "/sms/v1/Message",
        content=json.dumps(body),
        headers={
            "Content-Type": "application/json; charset=UTF-8",
            "User-Agent": "Ring Ring MessageApi NuGet",
        },
    )
    answer = response.json()
    assert response.status_code == 200
    assert set(answer) == {
        "MessageCount",
        "Reference",
        "Messages",
        "ResultCode",
        "ResultDescription",
    }
    assert answer["MessageCount"] == 1 and answer["Reference"] == "cs-1"
    assert set(answer["Messages"][0]) == {"MessageId", "To", "ResultCode", "ResultDescription"}
    cancel = await gateway.client.post(
        "/sms/v1/Cancel", json={"ApiKey": KEY, "MessageId": answer["Messages"][0]["MessageId"]}
    )
    assert set(cancel.json()) == {"MessageId", "ResultCode", "ResultDescription"}


async def test_php_client_shape_camel_case_with_capital_id_and_url(gateway):
    body = {
        "apiKey": KEY,
        "to": "32470000001",
        "message": "Hello from PHP",
        "senderID": None,
        "timeScheduled": "31-12-2099 10:00",
        "reference": "php-1",
        "statusURL": "http://127.0.0.1:9/status",
        "statusMethod": "GET",
        "statusFormat": "XML",
    }
    answer = (await gateway.client.post("/sms/V1/Message", json=body)).json()
    message_id = answer["Messages"][0]["MessageId"]
    status = (
        await gateway.client.post(
            "/sms/V1/StatusMessage", json={"apiKey": KEY, "messageID": message_id}
        )
    ).json()
    assert status["StatusCode"] == Status.SCHEDULED.code
    assert status["TimeScheduled"] == "2099-12-31 10:00:00"
    for key in [
        "MessageId",
        "Reference",
        "StatusCode",
        "StatusDescription",
        "TimeSubmitted",
        "DeliveryTime",
        "Country",
        "To",
        "Message",
        "ResultCode",
        "ResultDescription",
    ]:
        assert key in status


async def test_node_client_get_statusmessage_with_query_parameters(gateway):
    answer = (
        await gateway.client.post(
            "/sms/v1/message",
            json={"apiKey": KEY, "to": "32470000001", "message": "Hello from Node"},
        )
    ).json()
    message_id = answer["Messages"][0]["MessageId"]
    response = await gateway.client.get(
        f"/sms/v1/statusmessage?apiKey={KEY}&messageId={message_id}"
    )
    assert response.status_code == 200 and response.json()["MessageId"] == message_id


async def test_sandbox_answers_like_v1_and_reaches_no_carrier(gateway):
    answer = (
        await gateway.client.post(
            "/sms/sandbox/message", json={"apiKey": KEY, "to": "32470000001", "message": "test"}
        )
    ).json()
    message_id = answer["Messages"][0]["MessageId"]

    async def delivered():
        response = await gateway.client.post(
            "/sms/sandbox/StatusMessage", json={"apiKey": KEY, "messageId": message_id}
        )
        return response.json().get("StatusCode") == Status.DELIVERED.code

    await gateway.wait_until(delivered)
    assert gateway.simulator.submitted == []
    not_in_v1 = await gateway.status_of(message_id)
    assert not_in_v1["ResultCode"] == 29, "sandbox messages are not seen through v1"


async def test_incoming_polling_answers_with_the_client_field_names(gateway):
    await gateway.simulator.inject_mo("32470000001", "8686", b"Hi there")
    page = (await gateway.client.post("/sms/v1/Incoming", json={"apiKey": KEY})).json()
    assert page["NumberOfRecords"] == 1 and page["RemainingRecords"] == 0
    record = page["IncomingMessages"][0]
    assert {k: record[k] for k in ("From", "To", "Message", "Country")} == {
        "From": "32470000001",
        "To": "8686",
        "Message": "Hi there",
        "Country": "BE",
    }
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", record["TimeReceived"])
