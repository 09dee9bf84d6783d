"""Admin commands end to end: a real gateway (both databases), the simulator over TCP as its
carrier, the admin API over loopback. Suspend and resume a carrier (its binds stay up for
receipts and incoming messages; the route's next carrier takes over; the state outlives the
node and holds for every node), stop and start a bind, the webhook backlog and its retry,
requeue and cancel, maintenance mode on every front door, and the audit of each command."""

import logging
import smtplib
from datetime import UTC, datetime, timedelta

import pytest
import trio

from gatewayd.core.statuses import Status
from gatewayd.protocols.http.server import HttpServer, ServerLimits
from gatewayd.protocols.smpp import codec
from gatewayd.protocols.smpp.client import Outcome
from gatewayd.storage import messages as store
from gatewayd.storage import operator_state
from tests.daemon.conftest import free_port
from tests.gateway import KEY
from tests.smpp.test_smpp_front_door import bound_esme, with_smpp_app
from tests.smtp.test_smtp_front_door import DOMAIN, mail, send, smtp_section
from tests.webhooks.conftest import Receiver

BACKUP_CARRIER = """    simulator: {receipt_delay_s: 0}
  - name: backup
    simulator: {receipt_delay_s: 0}
"""
FALLBACK_ROUTE = """
routes:
  - {prefix: "", carriers: [sim, backup]}
"""
ALICE = {"Authorization": "Bearer alice-token-4567"}


def _id(answer: dict) -> str:
    (message,) = answer["Messages"]
    assert message["ResultCode"] == 0, message
    return message["MessageId"]


async def _status(gateway, message_id: str) -> Status:
    return Status(int((await gateway.status_of(message_id))["StatusCode"]))


async def _claimed(gateway, message_id: str) -> bool:
    def read():
        with gateway.runtime.engine.connect() as connection:
            return store.get_message(connection, message_id).claimed_by is not None

    return await trio.to_thread.run_sync(read)


async def _wait_for_pool(pool, condition) -> None:
    with trio.fail_after(10):
        while not condition():
            await pool.wait_changed()


async def test_a_suspended_carrier_gets_no_submit_while_its_receipts_and_mo_arrive(
    gateway_factory,
):
    gateway = await gateway_factory()
    simulator = gateway.simulator
    simulator.settings.receipt_delay_s = 0.3  # the receipt of `before` comes once suspended
    before = _id(await gateway.send(to="32470000001", message="before"))
    await simulator.wait_until(lambda: len(simulator.submitted) == 1)

    answer = await gateway.admin.post("/admin/carriers/sim/suspend")
    assert answer.status_code == 200
    assert answer.json() == {"target": "sim", "outcome": "suspended", "suspended": True}
    waiting = _id(await gateway.send(to="32470000002", message="while suspended"))
    assert await simulator.inject_mo("32470000003", "8686", b"hello") == codec.ESME_ROK

    async def receipt_in_and_waiting_claimed() -> bool:
        return await _status(gateway, before) is Status.DELIVERED and await _claimed(
            gateway, waiting
        )

    await gateway.wait_until(receipt_in_and_waiting_claimed)
    assert len(simulator.submitted) == 1, "nothing new submitted to a suspended carrier"
    assert await _status(gateway, waiting) is Status.QUEUED
    incoming = await gateway.client.post("/sms/v1/Incoming", json={"apiKey": KEY})
    assert [m["Message"] for m in incoming.json()["IncomingMessages"]] == ["hello"]
    (carrier,) = (await gateway.admin.get("/admin/carriers")).json()["carriers"]
    assert carrier["suspended"] and carrier["suspended_by"] == "admin"
    assert [bind["state"] for bind in carrier["binds"]] == ["trx"], "its bind stays up"
    assert gateway.runtime.carriers.is_suspended("sim")
    metrics = (await gateway.admin.get("/metrics")).text
    assert 'gatewayd_carrier_suspended{carrier="sim"} 1.0' in metrics

    answer = await gateway.admin.post("/admin/carriers/sim/resume")
    assert answer.json()["outcome"] == "resumed"

    async def delivered() -> bool:
        return await _status(gateway, waiting) is Status.DELIVERED

    await gateway.wait_until(delivered)
    assert [s.fields["short_message"] for s in simulator.submitted] == [
        b"before",
        b"while suspended",
    ]
    again = await gateway.admin.post("/admin/carriers/sim/resume")
    assert again.json()["outcome"] == "was not suspended"


async def test_a_suspended_carrier_s_messages_go_to_the_next_carrier_of_the_route(
    gateway_factory,
):
    gateway = await gateway_factory(
        extra=FALLBACK_ROUTE,
        accounts_patch=lambda text: text.replace(
            "    simulator: {receipt_delay_s: 0}\n", BACKUP_CARRIER, 1
        ),
    )
    pool = gateway.runtime.carriers
    await _wait_for_pool(pool, lambda: pool.carriers["backup"].healthy())
    sim, backup = pool.simulators["sim"], pool.simulators["backup"]
    await gateway.admin.post("/admin/carriers/sim/suspend")
    first = _id(await gateway.send(to="32470000001", message="via backup"))
    await backup.wait_until(lambda: len(backup.submitted) == 1)
    assert sim.submitted == []

    await gateway.admin.post("/admin/carriers/sim/resume")
    second = _id(await gateway.send(to="32470000002", message="via sim"))
    await sim.wait_until(lambda: len(sim.submitted) == 1)
    assert len(backup.submitted) == 1

    async def both_delivered() -> bool:
        statuses = [await _status(gateway, m) for m in (first, second)]
        return statuses == [Status.DELIVERED] * 2

    await gateway.wait_until(both_delivered)


async def test_a_suspension_outlives_its_node_and_holds_for_every_node(gateway_factory):
    first = await gateway_factory()
    await first.admin.post("/admin/carriers/sim/suspend")
    # A node started now (or this one after a restart) reads it before it submits anything.
    second = await gateway_factory()
    assert second.runtime.carriers.is_suspended("sim")
    (carrier,) = (await second.admin.get("/admin/carriers")).json()["carriers"]
    assert carrier["suspended"] and carrier["suspended_by"] == "admin"
    # A change made on one node reaches the other within its refresh.
    await second.admin.post("/admin/carriers/sim/resume")
    pool = first.runtime.carriers
    await _wait_for_pool(pool, lambda: not pool.is_suspended("sim"))


async def test_a_carrier_removed_from_the_configuration_while_suspended_can_be_resumed(
    gateway_factory,
):
    gateway = await gateway_factory()
    now = gateway.runtime.clock()
    await gateway.runtime.writer.write(lambda c: operator_state.suspend(c, "gone", "bob", now))
    await gateway.runtime.switches.refresh()
    listed = (await gateway.admin.get("/admin/carriers")).json()["carriers"]
    assert [(c["name"], c["configured"], c["suspended"], c["binds"]) for c in listed] == [
        ("gone", False, True, []),
        ("sim", True, False, listed[1]["binds"]),
    ]
    answer = await gateway.admin.post("/admin/carriers/gone/resume")
    assert answer.json() == {"target": "gone", "outcome": "resumed", "suspended": False}
    assert (await gateway.admin.post("/admin/carriers/gone/suspend")).status_code == 404


async def test_a_stopped_bind_unbinds_and_stays_down_until_started(gateway_factory):
    gateway = await gateway_factory()
    pool, simulator = gateway.runtime.carriers, gateway.simulator
    answer = await gateway.admin.post("/admin/carriers/sim/binds/0/stop")
    assert answer.json() == {"target": "sim#0trx", "outcome": "stopped", "stopped": True}
    await _wait_for_pool(pool, lambda: not pool.carriers["sim"].healthy())
    waiting = _id(await gateway.send(to="32470000001", message="after the stop"))
    await gateway.wait_until(lambda: _claimed(gateway, waiting))
    (bind,) = (await gateway.admin.get("/admin/binds")).json()["binds"]
    assert bind == {
        "carrier": "sim",
        "index": 0,
        "name": "sim#0trx",
        "state": "stopped",
        "stopped": True,
        "in_flight": 0,
    }
    assert simulator.submitted == []

    answer = await gateway.admin.post("/admin/carriers/sim/binds/0/start")
    assert answer.json()["outcome"] == "started"
    await simulator.wait_until(lambda: len(simulator.submitted) == 1)
    (bind,) = (await gateway.admin.get("/admin/binds")).json()["binds"]
    assert bind["state"] == "trx" and not bind["stopped"]


async def test_the_webhook_backlog_is_shown_and_retried_at_once(gateway_factory, nursery):
    receiver = Receiver()
    server = HttpServer("receiver", ["127.0.0.1:0"], receiver.handle, ServerLimits())
    receiver.port = (await nursery.start(server.run))[0][1]
    receiver.status = 503

    def patch(text: str) -> str:
        hook = f'\n        webhooks: {{status: {{url: "{receiver.url}"}}}}'
        text = text.replace("        max_parts: 3", "        max_parts: 3" + hook, 1)
        hours = "webhooks: {retry_base_s: 3600, retry_max_s: 3600}\ncarriers:"
        return text.replace("carriers:", hours, 1)

    gateway = await gateway_factory(accounts_patch=patch)
    message = _id(await gateway.send(to="32470000001", message="hooked"))
    await receiver.wait_for(1)

    async def backlog() -> list[dict]:
        return (await gateway.admin.get("/admin/webhooks/backlog")).json()["backlog"]

    async def failure_recorded() -> bool:
        entries = await backlog()
        return bool(entries) and entries[0]["pending"] == 2 and entries[0]["last_error"]

    await gateway.wait_until(failure_recorded)
    (entry,) = await backlog()
    assert entry["application"] == "shop" and entry["host"] == "127.0.0.1"
    assert "503" in entry["last_error"] and entry["oldest_age_s"] >= 0

    receiver.status = 200
    answer = await gateway.admin.post("/admin/webhooks/retry", json={"application": "shop"})
    assert answer.json() == {"application": "shop", "due_now": 1}, "the second waits its turn"
    await receiver.wait_for(3)
    codes = [r.body for r in receiver.requests[1:]]
    assert [b'"StatusCode":"100"' in codes[0], b'"StatusCode":"200"' in codes[1]] == [True] * 2
    assert message.encode() in codes[1]

    async def empty() -> bool:
        return await backlog() == []

    await gateway.wait_until(empty)


async def test_requeue_sends_an_expired_message_again_and_refuses_a_delivered_one(
    gateway_factory,
):
    gateway = await gateway_factory()
    clock = gateway.runtime.clock
    clock.set(datetime.now(UTC))
    later = (clock() + timedelta(hours=1)).isoformat()
    expired = _id(await gateway.send(to="32470000001", message="late", timeScheduled=later))
    clock.advance(timedelta(hours=80))  # past its validity (72 h) before it was sent
    gateway.runtime.dispatcher.wake()

    async def has_expired() -> bool:
        return await _status(gateway, expired) is Status.EXPIRED

    await gateway.wait_until(has_expired)
    assert gateway.simulator.submitted == []

    answer = await gateway.admin.post(f"/admin/messages/{expired}/requeue")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"target": expired, "outcome": "queued again", "status": 10}

    async def delivered() -> bool:
        return await _status(gateway, expired) is Status.DELIVERED

    await gateway.wait_until(delivered)
    assert [s.fields["short_message"] for s in gateway.simulator.submitted] == [b"late"]
    polled = await gateway.client.post("/sms/v1/Status", json={"apiKey": KEY})
    codes = [r["StatusCode"] for r in polled.json()["StatusMessages"]]
    assert codes == ["301", "10", "100", "200"]

    refused = await gateway.admin.post(f"/admin/messages/{expired}/requeue")
    assert refused.status_code == 400
    assert refused.json()["ResultCode"] == 26
    assert "Delivered (200)" in refused.json()["ResultDescription"]
    unknown = await gateway.admin.post(
        "/admin/messages/00000000-0000-0000-0000-000000000000/requeue"
    )
    assert unknown.json()["ResultCode"] == 29


async def test_cancel_from_admin_is_the_message_api_s_cancel(gateway_factory):
    gateway = await gateway_factory()
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    scheduled = _id(await gateway.send(to="32470000001", message="later", timeScheduled=later))
    answer = await gateway.admin.post(f"/admin/messages/{scheduled}/cancel")
    assert answer.json() == {"target": scheduled, "outcome": "cancelled", "status": 803}
    assert await _status(gateway, scheduled) is Status.CANCELLED
    by_client = await gateway.client.post(
        "/sms/v1/Cancel", json={"apiKey": KEY, "messageId": scheduled}
    )
    assert by_client.json()["ResultCode"] == 27
    again = await gateway.admin.post(f"/admin/messages/{scheduled}/cancel")
    assert again.status_code == 400 and again.json()["ResultCode"] == 27

    sent = _id(await gateway.send(to="32470000002", message="now"))
    await gateway.simulator.wait_until(lambda: len(gateway.simulator.submitted) == 1)

    async def submitted() -> bool:
        return await _status(gateway, sent) is not Status.QUEUED

    await gateway.wait_until(submitted)
    refused = await gateway.admin.post(f"/admin/messages/{sent}/cancel")
    assert refused.json()["ResultCode"] == 26


async def test_maintenance_refuses_every_front_door_and_the_carrier_side_drains(
    gateway_factory, nursery
):
    gateway = await gateway_factory(extra=smtp_section(free_port()), accounts_patch=with_smpp_app)
    simulator = gateway.simulator
    simulator.settings.receipt_delay_s = 0.3
    _, client = await bound_esme(nursery, gateway.smpp_port)
    with trio.fail_after(10):
        await client.wait_healthy()
    accepted = _id(await gateway.send(to="32470000001", message="accepted before"))
    await simulator.wait_until(lambda: len(simulator.submitted) == 1)

    answer = await gateway.admin.post("/admin/maintenance/on")
    assert answer.json()["maintenance"] is True and answer.json()["set_by"] == "admin"
    refused = await gateway.client.post(
        "/sms/v1/Message", json={"apiKey": KEY, "to": "32470000002", "message": "no"}
    )
    assert refused.status_code == 400
    assert refused.json()["ResultCode"] == 34
    assert refused.json()["ResultDescription"].startswith("Maintenance")
    sandbox = await gateway.client.post(
        "/sms/sandbox/Message", json={"apiKey": KEY, "to": "32470000002", "message": "no"}
    )
    assert sandbox.json()["ResultCode"] == 34
    with pytest.raises(smtplib.SMTPDataError) as raised:
        await trio.to_thread.run_sync(
            send, gateway.smtp_port, mail(), [f"32470000002@{DOMAIN}"], ("shop", KEY)
        )
    assert raised.value.smtp_code == 451
    result = await client.submit(
        {"source_addr": "8686", "destination_addr": "32470000002", "short_message": b"no"}
    )
    assert (result.outcome, result.status) == (Outcome.RETRY, codec.ESME_RX_T_APPN)
    parts = [bytes([5, 0, 3, 0x42, 2, seq]) + text for seq, text in ((1, b"one "), (2, b"two"))]
    first_part = {"source_addr": "8686", "destination_addr": "32470000003", "esm_class": 0x40}
    result = await client.submit({**first_part, "short_message": parts[0]})
    assert result.status == codec.ESME_RX_T_APPN, "no part of a set is kept, to be lost later"

    async def drained() -> bool:
        return await _status(gateway, accepted) is Status.DELIVERED  # polling keeps working

    await gateway.wait_until(drained)
    assert len(simulator.submitted) == 1

    off = await gateway.admin.post("/admin/maintenance/off")
    assert off.json()["maintenance"] is False
    _id(await gateway.send(to="32470000002", message="after"))
    for part in parts:  # the client sends the whole set again
        result = await client.submit({**first_part, "short_message": part})
        assert result.outcome is Outcome.ACCEPTED
    await simulator.wait_until(lambda: len(simulator.submitted) == 3)
    texts = [s.fields["short_message"] for s in simulator.submitted]
    assert texts[1:] == [b"after", b"one two"] or texts[1:] == [b"one two", b"after"]


async def test_maintenance_set_in_the_configuration_stays_on_whatever_the_admin_says(
    gateway_factory,
):
    gateway = await gateway_factory(extra="maintenance: true")
    assert (await gateway.send(to="32470000001", message="no"))["ResultCode"] == 34
    state = (await gateway.admin.get("/admin/maintenance")).json()
    assert state == {"maintenance": True, "by_config": True, "set_by": None, "since": None}
    off = await gateway.admin.post("/admin/maintenance/off")
    assert off.json()["maintenance"] is True
    audit = (await gateway.admin.get("/admin/audit")).json()["audit"]
    assert audit[0]["outcome"] == "was not on; still on by the configuration (maintenance: true)"
    assert (await gateway.send(to="32470000001", message="no"))["ResultCode"] == 34


async def test_every_command_is_logged_and_audited_with_its_token_s_name(gateway_factory, caplog):
    gateway = await gateway_factory(
        accounts_patch=lambda text: text.replace(
            "token: admin-token-123}",
            "token: admin-token-123, tokens: [{name: alice, token: alice-token-4567}]}",
        )
    )
    caplog.set_level(logging.INFO, logger="gatewayd.admin")
    assert (await gateway.admin.post("/admin/carriers/sim/suspend", headers=ALICE)).is_success
    assert (await gateway.admin.post("/admin/carriers/sim/resume")).is_success
    unknown = await gateway.admin.post("/admin/carriers/nowhere/suspend", headers=ALICE)
    assert unknown.status_code == 404
    assert "no carrier 'nowhere' (carriers: sim)" in unknown.json()["ResultDescription"]
    out_of_range = await gateway.admin.post("/admin/carriers/sim/binds/7/stop", headers=ALICE)
    assert "sim has no bind '7' (binds 0-0)" in out_of_range.json()["ResultDescription"]
    wrong = await gateway.admin.post(
        "/admin/carriers/sim/suspend", headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    assert not gateway.runtime.carriers.is_suspended("sim")

    audit = (await gateway.admin.get("/admin/audit", params={"limit": 10})).json()["audit"]
    assert [(e["token_name"], e["command"], e["target"], e["outcome"]) for e in audit] == [
        ("alice", "bind-stop", "sim", "refused: sim has no bind '7' (binds 0-0)"),
        (
            "alice",
            "suspend",
            "nowhere",
            "refused: no carrier 'nowhere' (carriers: sim)",
        ),
        ("admin", "resume", "sim", "resumed"),
        ("alice", "suspend", "sim", "suspended"),
    ]
    logged = [r for r in caplog.records if r.name == "gatewayd.admin"]
    assert [(r.admin_token, r.command, r.outcome) for r in logged][:2] == [
        ("alice", "suspend", "suspended"),
        ("admin", "resume", "resumed"),
    ]
    assert logged[0].getMessage() == "admin suspend sim by alice: suspended"
