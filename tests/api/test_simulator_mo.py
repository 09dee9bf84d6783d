"""The built-in simulator's door for the demo: POST /simulator/{carrier}/mo on the admin
listener makes it deliver an SMS from a handset; Incoming polling returns it and STOP
blacklists the sender, as with a real carrier."""

import httpx

from gatewayd.core.result_codes import Result
from tests.daemon.conftest import free_port
from tests.gateway import KEY

HANDSET = "32470000001"


async def test_an_injected_message_is_returned_by_incoming_polling(gateway):
    answer = await gateway.admin.post(
        "/simulator/sim/mo", json={"from": "+" + HANDSET, "to": "8686", "text": "Hello café €"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"carrier": "sim", "from": HANDSET, "to": "8686", "acknowledged": True}
    page = (await gateway.client.post("/sms/v1/Incoming", json={"apiKey": KEY})).json()
    assert page["NumberOfRecords"] == 1
    record = page["IncomingMessages"][0]
    assert (record["From"], record["To"], record["Message"]) == (HANDSET, "8686", "Hello café €")


async def test_text_outside_gsm_travels_as_ucs2(gateway):
    answer = await gateway.admin.post(
        "/simulator/sim/mo", data={"from": HANDSET, "to": "8686", "text": "Привет 👋"}
    )
    assert answer.status_code == 200, answer.text
    page = (await gateway.client.post("/sms/v1/Incoming", json={"apiKey": KEY})).json()
    assert page["IncomingMessages"][0]["Message"] == "Привет 👋"


async def test_an_injected_stop_blacklists_the_sender(gateway):
    answer = await gateway.admin.post(
        "/simulator/sim/mo", json={"from": HANDSET, "to": "8686", "text": "stop"}
    )
    assert answer.status_code == 200, answer.text
    listing = (await gateway.admin.get("/admin/accounts/acme/blacklist")).json()
    assert [(e["msisdn"], e["source"]) for e in listing["entries"]] == [(HANDSET, "stop")]
    refused = await gateway.send(to=HANDSET, message="offer")
    assert refused["Messages"][0]["ResultCode"] == int(Result.BLACKLISTED)
    await gateway.admin.post(
        "/simulator/sim/mo", json={"from": HANDSET, "to": "8686", "text": "START"}
    )
    listing = (await gateway.admin.get("/admin/accounts/acme/blacklist")).json()
    assert listing["entries"] == []


async def test_the_door_needs_the_admin_token_a_simulated_carrier_and_one_sms(gateway):
    bare = httpx.AsyncClient(base_url=str(gateway.admin.base_url))
    mo = {"from": HANDSET, "to": "8686", "text": "hi"}
    assert (await bare.post("/simulator/sim/mo", json=mo)).status_code == 401
    assert (await gateway.admin.post("/simulator/nope/mo", json=mo)).status_code == 404
    long = await gateway.admin.post("/simulator/sim/mo", json={**mo, "text": "x" * 161})
    assert long.status_code == 400 and "longer than one SMS" in long.json()["ResultDescription"]
    bad = await gateway.admin.post("/simulator/sim/mo", json={**mo, "from": "abc"})
    assert bad.status_code == 400
    missing = await gateway.admin.post("/simulator/sim/mo", json={"from": HANDSET, "to": "8686"})
    assert missing.status_code == 400
    page = (await gateway.client.post("/sms/v1/Incoming", json={"apiKey": KEY})).json()
    assert page["NumberOfRecords"] == 0


async def test_a_carrier_without_simulator_has_no_such_door(gateway_factory):
    real = f"  - {{name: real, host: 127.0.0.1, port: {free_port()}, system_id: gw}}\n"
    gateway = await gateway_factory(
        accounts_patch=lambda text: text.replace("carriers:\n", "carriers:\n" + real)
    )
    mo = {"from": HANDSET, "to": "8686", "text": "hi"}
    answer = await gateway.admin.post("/simulator/real/mo", json=mo)
    assert answer.status_code == 404 and "simulator" in answer.json()["ResultDescription"]
