"""The live status page's data (/admin/status.json) against known traffic on a whole gateway
(real database, the SMSC simulator over TCP, a real webhook receiver), and its token."""

import base64
from datetime import timedelta

import pytest
import trio

from gatewayd.core.instance_lease import InstanceLease
from gatewayd.core.result_codes import Result
from gatewayd.core.statuses import Status
from gatewayd.protocols.http.server import HttpServer, ServerLimits
from gatewayd.protocols.smpp import codec
from gatewayd.storage import status as status_store
from tests.gateway import ADMIN_TOKEN, KEY
from tests.smpp.raw_smsc import RawSmsc
from tests.storage_outage import StorageOutage
from tests.webhooks.conftest import Receiver
from tests.webhooks.test_webhook_outbox import with_hooks

REFUSED = "32470000001"


@pytest.fixture
async def failing_receiver(nursery):
    receiver = Receiver()
    receiver.status = 503
    server = HttpServer("receiver", ["127.0.0.1:0"], receiver.handle, ServerLimits())
    receiver.port = (await nursery.start(server.run))[0][1]
    yield receiver
    server.stop()


async def test_status_json_shows_the_traffic_sent(gateway_factory, failing_receiver):
    gateway = await gateway_factory(accounts_patch=with_hooks(failing_receiver))
    sent = [await gateway.send(to=f"3247000000{n}", message=f"hello {n}") for n in range(3)]
    ids = [answer["Messages"][0]["MessageId"] for answer in sent]

    async def delivered() -> bool:
        codes = [(await gateway.status_of(i))["StatusCode"] for i in ids]
        return codes == [Status.DELIVERED.code] * len(ids)

    await gateway.wait_until(delivered)
    later = await gateway.send(to="32470000009", message="later", timeScheduled="31-12-2030 09:00")
    assert later["ResultCode"] == 0
    refused = await gateway.client.post("/sms/v1/Message", json={"apiKey": "wrong-key-12345"})
    assert refused.json()["ResultCode"] == int(Result.INVALID_API_KEY)
    blocked = await gateway.send(to="123", message="no such number")
    assert blocked["Messages"][0]["ResultCode"] == int(Result.INVALID_NUMBER)
    await gateway.simulator.inject_mo("32470000001", "8686", b"to a failing webhook")
    await gateway.wait_until(lambda: _last_error_of_hook(gateway))
    runtime = gateway.runtime
    runtime.lease = InstanceLease(
        runtime.writer, runtime.clock, "test-node-1", "test-node", timedelta(seconds=30)
    )
    await runtime.lease.join()

    status = (await gateway.admin.get("/admin/status.json")).json()

    (carrier,) = status["carriers"]
    assert carrier["name"] == "sim" and carrier["healthy"]
    assert [bind["state"] for bind in carrier["binds"]] == ["trx"]
    assert carrier["binds"][0]["since"] is not None
    assert carrier["window"] == {"in_use": 0, "size": 10}
    assert carrier["submits"]["total"] == 3
    assert carrier["receipts"]["total"] == 3
    assert carrier["submits"]["per_s_1m"] > 0 and carrier["submits"]["per_s_1h"] > 0
    assert carrier["throttled"]["total"] == carrier["submit_errors"]["total"] == 0
    waiting = {
        entry["name"]: (entry["account"], entry["queued"], entry["scheduled"], entry["in_flight"])
        for entry in status["queues"]["by_application"]
    }
    assert waiting == {"other": ("acme", 0, 0, 0), "shop": ("acme", 0, 1, 0)}
    by_carrier = {entry["name"]: entry["scheduled"] for entry in status["queues"]["by_carrier"]}
    assert by_carrier == {"sim": 0, "(not routed yet)": 1}
    assert status["queues"]["capped"] is False
    (hook,) = status["webhooks"]["groups"]
    assert (hook["application"], hook["host"]) == ("shop", f"127.0.0.1:{failing_receiver.port}")
    # Submitted and Delivered of each message, and the incoming one
    assert hook["pending"] == 7 and hook["oldest_age_s"] >= 0 and "503" in hook["last_error"]
    refusals = {entry["name"]: entry for entry in status["front_doors"]["refusals"]}
    assert refusals["14"]["total"] == 1 and refusals["14"]["description"] == "ApiKey invalid"
    assert refusals["10"]["total"] == 1
    (http,) = status["front_doors"]["accepted"]
    assert (http["name"], http["total"]) == ("http", 4), "three sent and one scheduled"
    (api,) = [entry for entry in status["front_doors"]["requests"] if entry["name"] == "api"]
    assert api["total"] >= 6
    assert status["receipts_waiting"]["groups"] == []
    (instance,) = status["instances"]
    assert (instance["id"], instance["node_id"]) == ("test-node-1", "test-node")
    assert instance["this"] and instance["alive"]
    assert status["database"]["dialect"] == runtime.engine.dialect.name
    assert status["database"]["retention"]["messages_days"] == 30.0


async def _last_error_of_hook(gateway) -> bool:
    """The failed attempt's error shows once its outcome is stored."""
    status = (await gateway.admin.get("/admin/status.json")).json()
    return any("503" in (group["last_error"] or "") for group in status["webhooks"]["groups"])


async def test_the_charts_hold_the_sampled_rates(gateway):
    history = gateway.runtime.status.history
    answer = await gateway.send(to="32470000001", message="one")
    message_id = answer["Messages"][0]["MessageId"]

    async def submitted() -> bool:
        code = (await gateway.status_of(message_id))["StatusCode"]
        return code in (Status.SUBMITTED.code, Status.DELIVERED.code)

    await gateway.wait_until(submitted)
    clock = gateway.runtime.clock
    clock.set(clock() + timedelta(seconds=5))  # the next sample, as the sampler would take it
    await history.sample()

    chart = (await gateway.admin.get("/admin/status.json")).json()["history"]

    assert sorted(chart["series"]) == ["submits/sim", "webhook_backlog/all"]
    submits = chart["series"]["submits/sim"]
    assert len(submits) == len(chart["times"]) and max(submits) > 0
    assert chart["series"]["webhook_backlog/all"][-1] == 0


async def test_the_page_is_self_contained_html_with_the_report_inlined(gateway):
    answer = await gateway.admin.get("/admin/status")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    page = answer.text
    assert '<script id="report" type="application/json">' in page and '"name":"sim"' in page
    assert "<svg" in page and "src=" not in page and "href=" not in page


@pytest.mark.parametrize("path", ["/admin/status", "/admin/status.json"])
async def test_the_status_needs_the_admin_token(gateway, path):
    client = gateway.admin

    def basic(password: str) -> dict:
        credentials = base64.b64encode(f"admin:{password}".encode()).decode()
        return {"Authorization": f"Basic {credentials}"}

    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong"}, basic("wrong")):
        refused = await client.get(path, headers=headers)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith('Basic realm="gatewayd admin"')
        assert refused.json()["ResultCode"] == int(Result.INVALID_API_KEY)
    assert (await client.get(path)).status_code == 200, "Bearer"
    assert (await client.get(path, headers=basic(ADMIN_TOKEN))).status_code == 200
    assert (await client.get(path, headers={"Authorization": f"Bearer {KEY}"})).status_code == 401


async def test_the_queue_reads_stop_at_their_limit(gateway, monkeypatch):
    monkeypatch.setattr(status_store, "LIMIT", 2)
    for n in range(3):
        answer = await gateway.send(
            to=f"3247000000{n}", message="later", timeScheduled="2030-12-31"
        )
        assert answer["ResultCode"] == 0

    queues = (await gateway.admin.get("/admin/status.json")).json()["queues"]

    assert queues["capped"] is True
    scheduled = {entry["name"]: entry["scheduled"] for entry in queues["by_application"]}
    assert scheduled == {"other": 0, "shop": 2}, "at least 2"


async def test_the_status_shows_the_carriers_while_the_storage_is_away(gateway):
    outage = StorageOutage(gateway.runtime.engine)
    await trio.to_thread.run_sync(outage.begin)
    try:
        answer = await gateway.admin.get("/admin/status.json")
    finally:
        await trio.to_thread.run_sync(outage.end)

    assert answer.status_code == 200
    status = answer.json()
    assert [carrier["name"] for carrier in status["carriers"]] == ["sim"]
    if outage.sqlite:  # a full disk: reads still answer
        assert status["storage_error"] is None
    else:  # the server refuses connections
        assert "not currently accepting connections" in status["storage_error"]
        assert status["instances"] == status["webhooks"]["groups"] == []


async def test_the_status_shows_a_carriers_errors_and_a_lost_bind(gateway_factory, nursery):
    """A real SMSC that refuses one destination, then goes away for good."""
    smsc = RawSmsc({REFUSED: codec.ESME_RINVDSTADR}, vanish_after=codec.ESME_RINVDSTADR)
    port = await nursery.start(smsc.serve)
    carrier = f"host: 127.0.0.1\n    port: {port}\n    system_id: gw"
    gateway = await gateway_factory(
        accounts_patch=lambda text: text.replace("simulator: {receipt_delay_s: 0}", carrier)
    )
    assert (await gateway.send(to=REFUSED, message="refused"))["ResultCode"] == 0
    pool = gateway.runtime.carriers
    with trio.fail_after(10):
        while pool.carriers["sim"].binds[0].last_error is None:
            await pool.wait_changed()

    (carrier,) = (await gateway.admin.get("/admin/status.json")).json()["carriers"]

    assert carrier["submit_errors"]["total"] == 1 and carrier["submits"]["total"] == 0
    assert carrier["last_submit_error"].startswith("ESME_RINVDSTADR")
    assert carrier["last_submit_error_at"] is not None
    (bind,) = carrier["binds"]
    assert bind["state"] in ("down", "connecting") and not carrier["healthy"]
    assert bind["last_error"] and bind["last_error_at"] is not None


async def test_the_status_shows_a_suspended_carrier_and_the_quota_left(gateway_factory):
    gateway = await gateway_factory(
        accounts_patch=lambda text: text.replace(
            "        max_parts: 3", "        max_parts: 3\n        quota: {messages_per_day: 5}", 1
        )
    )
    assert (await gateway.send(to="32470000001,32470000002", message="x"))["MessageCount"] == 2
    assert (await gateway.admin.post("/admin/carriers/sim/suspend")).is_success

    status = (await gateway.admin.get("/admin/status.json")).json()

    (carrier,) = status["carriers"]
    assert carrier["suspended"] is True and carrier["healthy"], "suspended, its bind still up"
    quotas = {entry["name"]: entry["quotas"] for entry in status["queues"]["by_application"]}
    assert quotas["other"] == []
    ((day,),) = [quotas["shop"]]
    assert (day["period"], day["limit"], day["used"], day["remaining"]) == ("day", 5, 2, 3)
    page = (await gateway.admin.get("/admin/status")).text
    assert '"suspended":true' in page and '"remaining":3' in page
