"""A message from the HTTP API to the simulator and back as a status, over real sockets."""

from gatewayd.core.mo_decoding import split_udh
from gatewayd.core.statuses import Status
from tests.gateway import KEY


async def test_a_message_is_submitted_and_its_receipt_makes_it_delivered(gateway):
    answer = await gateway.send(to="32470000001", message="Hello “world” – café…", reference="r-1")
    assert answer["ResultCode"] == 0 and answer["MessageCount"] == 1
    message_id = answer["Messages"][0]["MessageId"]

    async def delivered():
        return (await gateway.status_of(message_id))["StatusCode"] == Status.DELIVERED.code

    await gateway.wait_until(delivered)
    status = await gateway.status_of(message_id)
    assert status["Message"] == 'Hello "world" - café...' and status["MessageEncoding"] == "TEXT"
    assert status["Reference"] == "r-1" and status["Country"] == "BE" and status["From"] == "8686"
    submitted = gateway.simulator.submitted[0].fields
    assert submitted["destination_addr"] == b"32470000001" and submitted["source_addr"] == b"8686"
    assert (submitted["source_addr_ton"], submitted["source_addr_npi"]) == (3, 0)
    assert (submitted["dest_addr_ton"], submitted["dest_addr_npi"]) == (1, 1)
    assert submitted["data_coding"] == 0 and submitted["registered_delivery"] == 1
    assert submitted["validity_period"].endswith(b"000+")


async def test_a_long_unicode_message_goes_in_udh_parts_and_is_delivered_when_all_are(gateway):
    text = "Привет мир! " * 10
    answer = await gateway.send(to="32470000001", message=text)
    message_id = answer["Messages"][0]["MessageId"]

    async def delivered():
        return (await gateway.status_of(message_id))["StatusCode"] == Status.DELIVERED.code

    await gateway.wait_until(delivered)
    parts = [s.fields for s in gateway.simulator.submitted]
    assert len(parts) == 2 and all(p["data_coding"] == 8 and p["esm_class"] == 0x40 for p in parts)
    payload = b"".join(split_udh(p["short_message"])[1] for p in parts)
    assert payload.decode("utf-16-be") == text
    assert (await gateway.status_of(message_id))["NumberOfParts"] == 2


async def test_status_updates_are_handed_out_once_by_polling(gateway):
    answer = await gateway.send(to="32470000001,32470000002", message="poll me")
    ids = {m["MessageId"] for m in answer["Messages"]}

    async def both_delivered():
        return all(
            [(await gateway.status_of(i))["StatusCode"] == Status.DELIVERED.code for i in ids]
        )

    await gateway.wait_until(both_delivered)
    handed_out = []
    while True:
        page = (
            await gateway.client.post("/sms/v1/Status", json={"apiKey": KEY, "maxRecords": "1"})
        ).json()
        if page["NumberOfRecords"] == 0:
            break
        handed_out += page["StatusMessages"]
        assert page["RemainingRecords"] >= 0
    delivered = [r["MessageId"] for r in handed_out if r["StatusCode"] == Status.DELIVERED.code]
    assert sorted(delivered) == sorted(ids), "each message's Delivered record exactly once"
    assert {r["StatusCode"] for r in handed_out} <= {Status.SUBMITTED.code, Status.DELIVERED.code}


async def test_metrics_show_binds_submit_results_and_accepted_messages(gateway):
    answer = await gateway.send(to="32470000001,12", message="count me")
    message_id = answer["Messages"][0]["MessageId"]

    async def delivered():
        return (await gateway.status_of(message_id))["StatusCode"] == Status.DELIVERED.code

    await gateway.wait_until(delivered)
    text = gateway.runtime.metrics.render().decode()
    assert 'gatewayd_carrier_binds{carrier="sim",state="trx"} 1.0' in text
    assert 'gatewayd_carrier_submit_results_total{carrier="sim",status="ESME_ROK"} 1.0' in text
    accepted = '{application="shop",front_door="http",mode="live"} 1.0'
    assert "gatewayd_messages_accepted_total" + accepted in text
    refused = '{application="shop",mode="live",reason="invalid_number"} 1.0'
    assert "gatewayd_recipients_refused_total" + refused in text
