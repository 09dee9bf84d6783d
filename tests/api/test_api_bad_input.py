"""Bad requests get a clear ResultCode and ResultDescription, never a 500."""

import json

import pytest

from gatewayd.core.statuses import Status
from tests.gateway import KEY


async def post(gateway, body, path="/sms/v1/Message", **kwargs):
    if isinstance(body, dict):
        response = await gateway.client.post(path, json=body, **kwargs)
    else:
        response = await gateway.client.post(
            path, content=body, headers={"Content-Type": "application/json"}, **kwargs
        )
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, 101),
        (b"[1, 2]", 400, 101),
        ({"apiKey": KEY, "to": "32470000001", "mesage": "typo"}, 400, 102),
        ({"apiKey": KEY, "to": "32470000001", "message": ["not", "text"]}, 400, 103),
        ({"apiKey": KEY, "to": {"a": 1}, "message": "x"}, 400, 103),
        ({"apiKey": KEY, "to": "32470000001", "message": ""}, 400, 301),
        ({"apiKey": KEY, "to": "32470000001"}, 400, 301),
        ({"apiKey": KEY, "message": "no recipient"}, 400, 104),
        ({"apiKey": KEY, "to": "32470000001", "message": "x" * 500}, 400, 302),
        ({"apiKey": KEY, "to": ",".join(["32470000001"] * 1001), "message": "x"}, 400, 304),
        ({"apiKey": KEY, "to": "abc,12", "message": "x"}, 400, 305),
        ({"apiKey": KEY, "to": "32470000001", "message": "x", "from": "9999"}, 400, 303),
        ({"apiKey": KEY, "to": "32470000001", "message": "x", "senderId": "Shop"}, 400, 303),
        (
            {
                "apiKey": KEY,
                "to": "32470000001",
                "message": "x",
                "timeScheduled": "01-01-2020 10:00",
            },
            400,
            307,
        ),
        (
            {
                "apiKey": KEY,
                "to": "32470000001",
                "message": "x",
                "timeScheduled": "32-13-2099 10:00",
            },
            400,
            306,
        ),
        (
            {
                "apiKey": KEY,
                "to": "32470000001",
                "message": "x",
                "timeScheduled": "01-01-2099 10:00",
                "timeValidity": "01-01-2099 09:00",
            },
            400,
            308,
        ),
        ({"apiKey": KEY, "to": "32470000001", "message": "x", "messageEncoding": "utf7"}, 400, 103),
        (
            {"apiKey": KEY, "to": "32470000001", "message": "😀", "messageEncoding": "Text"},
            400,
            309,
        ),
        (
            {"apiKey": KEY, "to": "32470000001", "message": "x", "replaceIfPresent": "maybe"},
            400,
            103,
        ),
        ({"apiKey": "wrong-key-000000", "to": "32470000001", "message": "x"}, 401, 201),
        ({"to": "32470000001", "message": "x"}, 401, 201),
    ],
)
async def test_each_bad_request_has_its_own_code(gateway, body, status, code):
    got_status, answer = await post(gateway, body)
    assert (got_status, answer["ResultCode"]) == (status, code), answer
    assert answer["ResultDescription"]


async def test_a_recipient_refused_by_policy_does_not_stop_the_others(gateway):
    _, answer = await post(
        gateway, {"apiKey": KEY, "to": "32470000001,12,32000000000", "message": "x"}
    )
    codes = [m["ResultCode"] for m in answer["Messages"]]
    assert codes == [0, 401, 401] and answer["MessageCount"] == 1
    assert answer["Messages"][1]["MessageId"] is None


async def test_a_body_over_the_limit_is_413(gateway):
    status, answer = await post(gateway, b'{"message": "' + b"x" * 70_000 + b'"}')
    assert status == 413 and answer["ResultCode"] == 105


async def test_wrong_method_and_unknown_path(gateway):
    response = await gateway.client.get("/sms/v1/Message")
    assert response.status_code == 405 and response.json()["ResultCode"] == 107
    response = await gateway.client.post("/sms/v2/Message", json={})
    assert response.status_code == 404


async def test_an_unsupported_content_type_is_415(gateway):
    response = await gateway.client.post(
        "/sms/v1/Message", content=b"<x/>", headers={"Content-Type": "application/xml"}
    )
    assert response.status_code == 415 and response.json()["ResultCode"] == 106


async def test_the_key_is_also_accepted_as_bearer_and_x_api_key_and_forms_work(gateway):
    for headers in ({"Authorization": f"Bearer {KEY}"}, {"X-Api-Key": KEY}):
        response = await gateway.client.post(
            "/sms/v1/Message", json={"to": "32470000001", "message": "x"}, headers=headers
        )
        assert response.json()["ResultCode"] == 0
    form = await gateway.client.post(
        "/sms/v1/Message", data={"apiKey": KEY, "to": "32470000001", "message": "form"}
    )
    assert form.json()["ResultCode"] == 0


async def test_cancel_a_scheduled_message_then_not_again(gateway):
    _, answer = await post(
        gateway,
        {
            "apiKey": KEY,
            "to": "32470000001",
            "message": "later",
            "timeScheduled": "2099-01-01T10:00:00",
        },
    )
    message_id = answer["Messages"][0]["MessageId"]
    first = await gateway.client.post(
        "/sms/v1/Cancel", json={"apiKey": KEY, "messageId": message_id}
    )
    assert first.json()["ResultCode"] == 0
    assert (await gateway.status_of(message_id))["StatusCode"] == Status.CANCELLED.code
    again = await gateway.client.post(
        "/sms/v1/Cancel", json={"apiKey": KEY, "messageId": message_id}
    )
    assert again.status_code == 409 and again.json()["ResultCode"] == 502
    unknown = await gateway.client.post("/sms/v1/Cancel", json={"apiKey": KEY, "messageId": "nope"})
    assert unknown.status_code == 404 and unknown.json()["ResultCode"] == 501


async def test_a_message_of_another_application_is_not_found(gateway):
    from tests.gateway import OTHER_KEY

    _, answer = await post(gateway, {"apiKey": KEY, "to": "32470000001", "message": "mine"})
    message_id = answer["Messages"][0]["MessageId"]
    response = await gateway.client.post(
        "/sms/v1/StatusMessage", json={"apiKey": OTHER_KEY, "messageId": message_id}
    )
    assert response.status_code == 404


async def test_json_numbers_for_to_and_string_max_records(gateway):
    _, answer = await post(gateway, {"apiKey": KEY, "to": 32470000001, "message": "numeric to"})
    assert answer["MessageCount"] == 1
    response = await gateway.client.post(
        "/sms/v1/Status",
        content=json.dumps({"apiKey": KEY, "maxRecords": "abc"}),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400 and response.json()["ResultCode"] == 103
