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


MESSAGE = {"apiKey": KEY, "to": "32470000001", "message": "x"}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, 13),
        (b"[1, 2]", 400, 13),
        (b'"x"', 400, 13),
        (b"null", 400, 13),
        ({"apiKey": KEY, "to": "32470000001", "mesage": "typo"}, 400, 13),
        ({**MESSAGE, "message": ["not", "text"]}, 400, 13),
        ({"apiKey": KEY, "to": {"a": 1}, "message": "x"}, 400, 9),
        ({**MESSAGE, "message": ""}, 400, 7),
        ({"apiKey": KEY, "to": "32470000001"}, 400, 7),
        ({"apiKey": KEY, "message": "no recipient"}, 400, 9),
        ({**MESSAGE, "message": "x" * 500}, 400, 8),
        ({"apiKey": KEY, "to": ",".join(["32470000001"] * 1001), "message": "x"}, 400, 20),
        ({"apiKey": KEY, "to": "abc,12", "message": "x"}, 400, 10),
        ({"apiKey": KEY, "to": "32470000001,abc", "message": "x"}, 200, 0),
        ({**MESSAGE, "from": "9999"}, 400, 6),
        ({**MESSAGE, "from": "x" * 22}, 400, 5),
        ({**MESSAGE, "senderId": "Shop"}, 400, 31),
        ({**MESSAGE, "reference": "r" * 256}, 400, 4),
        ({**MESSAGE, "timeScheduled": "01-01-2020 10:00"}, 400, 23),
        ({**MESSAGE, "timeScheduled": "32-13-2099 10:00"}, 400, 3),
        ({**MESSAGE, "timeValidity": "32-13-2099 10:00"}, 400, 19),
        (
            {**MESSAGE, "timeScheduled": "01-01-2099 10:00", "timeValidity": "01-01-2099 09:00"},
            400,
            22,
        ),
        ({**MESSAGE, "messageEncoding": "utf7"}, 400, 13),
        ({**MESSAGE, "message": "😀", "messageEncoding": "Text"}, 400, 13),
        ({**MESSAGE, "replaceIfPresent": "maybe"}, 400, 13),
        ({**MESSAGE, "statusUrl": "ftp://x"}, 400, 17),
        ({**MESSAGE, "statusUrl": "http://127.0.0.1/s", "statusMethod": "PUT"}, 400, 18),
        ({**MESSAGE, "statusUrl": "http://127.0.0.1/s", "statusFormat": "CSV"}, 400, 33),
        ({**MESSAGE, "apiKey": "wrong-key-000000"}, 400, 14),
        ({"to": "32470000001", "message": "x"}, 400, 12),
        ({**MESSAGE, "apiKey": 12345}, 400, 12),
    ],
)
async def test_each_bad_request_has_ringrings_code(gateway, body, status, code):
    got_status, answer = await post(gateway, body)
    assert (got_status, answer["ResultCode"]) == (status, code), answer
    assert answer["ResultDescription"]


@pytest.mark.parametrize("body", [b"not json at all", b"[1,2]", b'"x"', b"null", b"42"])
async def test_what_curl_sends_by_default_that_is_no_json_is_json_invalid(gateway, body):
    """`curl -d '…'` labels every body application/x-www-form-urlencoded."""
    response = await gateway.client.post(
        "/sms/v1/Message",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    answer = response.json()
    assert (response.status_code, answer["ResultCode"]) == (400, 13), answer
    assert answer["ResultDescription"].startswith("XML or JSON invalid")
    assert "unknown field" not in answer["ResultDescription"].lower()


async def test_a_request_without_a_key_is_told_the_key_is_missing(gateway):
    _, answer = await post(gateway, {"to": "32470000001", "message": "x"})
    assert answer == {"ResultCode": 12, "ResultDescription": "ApiKey invalid: no apiKey given"}
    _, wrong = await post(gateway, {**MESSAGE, "apiKey": "wrong-key-000000"})
    assert wrong == {"ResultCode": 14, "ResultDescription": "ApiKey invalid"}


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (123, "a number"),
        (1.5, "a number"),
        (["x"], "a list"),
        ({"a": "x"}, "an object"),
        (True, "a boolean"),
    ],
)
async def test_a_text_field_of_another_json_type_is_refused(gateway, value, kind):
    status, answer = await post(gateway, {**MESSAGE, "message": value})
    assert (status, answer["ResultCode"]) == (400, 13)
    assert answer["ResultDescription"].endswith(f"message must be a string, not {kind}")


async def test_errors_name_fields_as_the_client_spelt_them(gateway):
    for key in ("maxRecords", "MaxRecords", "MAXRECORDS"):
        _, malformed = await post(gateway, {"apiKey": KEY, key: "abc"}, path="/sms/v1/Status")
        assert malformed["ResultCode"] == 24
        assert malformed["ResultDescription"] == f"MaxRecords invalid: {key} must be a whole number"
        _, out = await post(gateway, {"apiKey": KEY, key: 0}, path="/sms/v1/Status")
        assert (
            out["ResultCode"] == 25 and f"{key} must be from 1 to 1000" in out["ResultDescription"]
        )
    _, typo = await post(gateway, {**MESSAGE, "Mesage": "typo"})
    assert typo["ResultDescription"].endswith("'Mesage'; did you mean 'message'?")
    _, typo = await post(gateway, {**MESSAGE, "StatusUrl": "http://127.0.0.1/", "statusFormt": "X"})
    assert typo["ResultDescription"].endswith("'statusFormt'; did you mean 'statusFormat'?")
    _, answer = await post(gateway, {**MESSAGE, "Message": 7})
    assert answer["ResultDescription"].endswith("Message must be a string, not a number")
    _, answer = await post(gateway, {"apiKey": KEY}, path="/sms/v1/Cancel")
    assert answer == {
        "ResultCode": 26,
        "ResultDescription": "MessageId invalid: no messageId given",
    }


async def test_a_recipient_refused_by_policy_does_not_stop_the_others(gateway):
    _, answer = await post(
        gateway, {"apiKey": KEY, "to": "32470000001,12,32000000000", "message": "x"}
    )
    codes = [m["ResultCode"] for m in answer["Messages"]]
    assert codes == [0, 10, 10] and answer["MessageCount"] == 1
    assert answer["Messages"][1]["MessageId"] is None


async def test_a_body_over_the_limit_is_400_with_result_13(gateway):
    status, answer = await post(gateway, b'{"message": "' + b"x" * 70_000 + b'"}')
    assert status == 400 and answer["ResultCode"] == 13


async def test_wrong_method_and_unknown_path(gateway):
    response = await gateway.client.get("/sms/v1/Message")
    assert response.status_code == 405 and response.json()["ResultCode"] == 13
    response = await gateway.client.post("/sms/v2/Message", json={})
    assert response.status_code == 404


async def test_an_unsupported_content_type_is_a_400_the_clients_read(gateway):
    response = await gateway.client.post(
        "/sms/v1/Message", content=b"<x/>", headers={"Content-Type": "application/xml"}
    )
    assert response.status_code == 400 and response.json()["ResultCode"] == 13
    assert "application/xml" in response.json()["ResultDescription"]


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
    assert again.status_code == 400 and again.json()["ResultCode"] == 27
    unknown = await gateway.client.post(
        "/sms/v1/Cancel",
        json={"apiKey": KEY, "messageId": "0190c2a4-1d2e-7f00-8a00-000000000000"},
    )
    assert unknown.status_code == 400 and unknown.json()["ResultCode"] == 29
    not_a_guid = await gateway.client.post(
        "/sms/v1/Cancel", json={"apiKey": KEY, "messageId": "nope"}
    )
    assert not_a_guid.status_code == 400 and not_a_guid.json()["ResultCode"] == 26
    assert "not a GUID" in not_a_guid.json()["ResultDescription"]


async def test_a_message_already_sent_cannot_be_cancelled(gateway):
    _, answer = await post(gateway, MESSAGE)
    message_id = answer["Messages"][0]["MessageId"]

    async def sent():
        return (await gateway.status_of(message_id))["StatusDescription"] in (
            "Submitted",
            "Delivered",
        )

    await gateway.wait_until(sent)
    response = await gateway.client.post(
        "/sms/v1/Cancel", json={"apiKey": KEY, "messageId": message_id}
    )
    assert response.status_code == 400 and response.json()["ResultCode"] == 26
    assert response.json()["ResultDescription"].startswith(
        "MessageId invalid: the message cannot be cancelled: "
    )


async def test_a_message_of_another_application_is_not_found(gateway):
    from tests.gateway import OTHER_KEY

    _, answer = await post(gateway, {"apiKey": KEY, "to": "32470000001", "message": "mine"})
    message_id = answer["Messages"][0]["MessageId"]
    response = await gateway.client.post(
        "/sms/v1/StatusMessage", json={"apiKey": OTHER_KEY, "messageId": message_id}
    )
    assert response.status_code == 400 and response.json()["ResultCode"] == 29


async def test_json_numbers_for_to_and_string_max_records(gateway):
    _, answer = await post(gateway, {"apiKey": KEY, "to": 32470000001, "message": "numeric to"})
    assert answer["MessageCount"] == 1
    response = await gateway.client.post(
        "/sms/v1/Status",
        content=json.dumps({"apiKey": KEY, "maxRecords": "abc"}),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400 and response.json()["ResultCode"] == 24
