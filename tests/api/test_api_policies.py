"""Account and application policies through the running API: whitelist, debug mode, time
windows, blacklist and STOP, and incoming messages."""

from sqlalchemy import select

from gatewayd.core.statuses import Status
from gatewayd.storage.tables import incoming_messages, request_logs
from tests.gateway import KEY


def patch_account(**settings):
    lines = "".join(f"\n    {key}: {value}" for key, value in settings.items())
    return lambda text: text.replace("    blacklist: true", "    blacklist: true" + lines, 1)


async def test_an_address_outside_the_whitelist_gets_403(gateway_factory):
    gateway = await gateway_factory(accounts_patch=patch_account(ip_whitelist='["10.0.0.0/8"]'))
    response = await gateway.client.post(
        "/sms/v1/Message", json={"apiKey": KEY, "to": "32470000001", "message": "x"}
    )
    assert response.status_code == 403 and response.json()["ResultCode"] == 15


async def test_forwarded_for_counts_only_from_a_trusted_proxy(gateway_factory):
    gateway = await gateway_factory(
        accounts_patch=lambda text: patch_account(ip_whitelist='["198.51.100.0/24"]')(text).replace(
            "max_body_bytes: 65536", 'max_body_bytes: 65536, trusted_proxies: ["127.0.0.0/8"]'
        )
    )
    body = {"apiKey": KEY, "to": "32470000001", "message": "x"}
    allowed = await gateway.client.post(
        "/sms/v1/Message", json=body, headers={"X-Forwarded-For": "198.51.100.20"}
    )
    refused = await gateway.client.post(
        "/sms/v1/Message", json=body, headers={"X-Forwarded-For": "203.0.113.5"}
    )
    assert (allowed.status_code, refused.status_code) == (200, 403)


async def test_debug_mode_limits_to_30_a_minute_and_logs_with_the_key_masked(gateway_factory):
    gateway = await gateway_factory(accounts_patch=patch_account(debug="true"))
    body = {"apiKey": KEY, "to": "32470000001", "message": "debug"}
    answers = [await gateway.client.post("/sms/v1/Message", json=body) for _ in range(31)]
    assert [a.status_code for a in answers[:30]] == [200] * 30
    assert answers[0].headers["X-Rate-Limit-Limit"] == "30"
    assert answers[0].headers["X-Rate-Limit-Remaining"] == "29"
    assert answers[29].headers["X-Rate-Limit-Remaining"] == "0"
    assert answers[30].status_code == 403 and answers[30].json()["ResultCode"] == 30
    assert int(answers[30].headers["Retry-After"]) > 0
    with gateway.runtime.engine.connect() as connection:
        logs = connection.execute(select(request_logs)).all()
    assert len(logs) == 31 and {log.status_code for log in logs} == {200, 403}
    assert all(KEY not in log.request_body and "shop" in log.request_body for log in logs)
    assert logs[0].path == "/sms/v1/Message" and '"ResultCode":0' in logs[0].response_body


async def test_debug_logs_mask_the_key_whatever_the_content_type_says(gateway_factory):
    """curl -d '{"apiKey":...}' labels JSON as a form (as every README example sends it); a
    form, a query string and JSON cut short carry keys too."""
    gateway = await gateway_factory(accounts_patch=patch_account(debug="true"))
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    sent = [
        await gateway.client.post(
            "/sms/v1/Status", content=f'{{"apiKey":"{KEY}"}}'.encode(), headers=form
        ),
        await gateway.client.post(
            "/sms/v1/Status", content=f"apiKey={KEY}&maxRecords=5", headers=form
        ),
        await gateway.client.get(
            "/sms/v1/StatusMessage",
            params={"apiKey": KEY, "messageId": "019ad1e2-4f3b-7c21-8000-000000000000"},
        ),
    ]
    assert [answer.status_code for answer in sent][:2] == [200, 200]
    with gateway.runtime.engine.connect() as connection:
        logs = connection.execute(select(request_logs).order_by(request_logs.c.id)).all()
    assert len(logs) == 3
    stored = [log.path + " " + log.request_body for log in logs]
    assert all(KEY not in text and KEY[:4] in text for text in stored), stored


async def test_outside_every_time_window_a_message_is_dropped_with_its_status(gateway_factory):
    never = '\n        time_windows: [{days: [mon], start: "00:00", end: "00:01"}]'
    gateway = await gateway_factory(
        accounts_patch=lambda text: text.replace(
            "        max_parts: 3", "        max_parts: 3" + never
        )
    )
    answer = await gateway.send(to="32470000001", message="too late")
    message_id = answer["Messages"][0]["MessageId"]
    assert answer["Messages"][0]["ResultCode"] == 0
    status = await gateway.status_of(message_id)
    assert status["StatusCode"] == Status.DROPPED.code and status["StatusDescription"] == "Dropped"
    polled = (await gateway.client.post("/sms/v1/Status", json={"apiKey": KEY})).json()
    assert polled["StatusMessages"][0]["StatusCode"] == Status.DROPPED.code
    assert gateway.simulator.submitted == []


async def test_stop_blacklists_the_sender_and_start_lifts_it(gateway):
    body = {"apiKey": KEY, "to": "32470000001", "message": "offer"}
    assert (await gateway.simulator.inject_mo("32470000001", "8686", b"  stop ")) == 0
    refused = (await gateway.client.post("/sms/v1/Message", json=body)).json()
    assert refused["Messages"][0]["ResultCode"] == 32 and refused["MessageCount"] == 0
    await gateway.simulator.inject_mo("32470000001", "8686", b"START")
    accepted = (await gateway.client.post("/sms/v1/Message", json=body)).json()
    assert accepted["Messages"][0]["ResultCode"] == 0


async def test_a_concatenated_incoming_message_is_reassembled_before_it_is_handed_on(gateway):
    text = "Привет! " * 12
    data = text.encode("utf-16-be")
    halves = [data[:134], data[134:]]
    for seq in (2, 1):  # out of order
        udh = bytes((6, 0x08, 4, 0x12, 0x34, 2, seq))
        await gateway.simulator.inject_mo(
            "32470000001", "8686", udh + halves[seq - 1], data_coding=8, esm_class=0x40
        )
    page = (await gateway.client.post("/sms/v1/Incoming", json={"apiKey": KEY})).json()
    assert page["NumberOfRecords"] == 1 and page["IncomingMessages"][0]["Message"] == text


async def test_an_incoming_message_to_an_unknown_number_is_stored_not_lost(gateway):
    await gateway.simulator.inject_mo("32470000001", "1234", b"who?")
    with gateway.runtime.engine.connect() as connection:
        rows = connection.execute(select(incoming_messages)).all()
    assert [(r.recipient, r.application, r.body) for r in rows] == [("1234", None, "who?")]


async def test_a_scheduled_message_to_someone_who_opted_out_since_is_not_sent(gateway):
    from datetime import UTC, datetime

    answer = await gateway.send(to="32470000001", message="later", timeScheduled="01-01-2099 10:00")
    message_id = answer["Messages"][0]["MessageId"]
    await gateway.simulator.inject_mo("32470000001", "8686", b"STOP")
    runtime = gateway.runtime
    runtime.clock.set(datetime(2099, 1, 1, 12, tzinfo=UTC))
    runtime.dispatcher.wake()

    async def blacklisted():
        return (await gateway.status_of(message_id))["StatusCode"] == Status.BLACKLISTED.code

    await gateway.wait_until(blacklisted)
    assert gateway.simulator.submitted == []


async def test_stop_is_confirmed_by_a_reply_from_the_number_it_was_sent_to(gateway_factory):
    gateway = await gateway_factory(
        accounts_patch=patch_account(
            stop_reply='"You will get no more messages. START to resubscribe."'
        )
    )
    await gateway.simulator.inject_mo("32470000001", "8686", b"Stop")
    await gateway.simulator.wait_until(lambda: len(gateway.simulator.submitted) == 1)
    reply = gateway.simulator.submitted[0].fields
    assert reply["destination_addr"] == b"32470000001" and reply["source_addr"] == b"8686"
    assert reply["short_message"].startswith(b"You will get no more messages.")


async def test_an_incomplete_concatenated_message_is_handed_on_after_the_timeout(gateway):
    from datetime import timedelta

    from gatewayd.core.mo_timeouts import FragmentSweeper

    udh = bytes((5, 0, 3, 0x42, 3, 1))
    await gateway.simulator.inject_mo("32470000001", "8686", udh + b"first part ", esm_class=0x40)
    runtime = gateway.runtime
    sweeper = FragmentSweeper(runtime.inbound, runtime.writer, runtime.clock, timeout=timedelta(0))
    assert await sweeper.sweep() == 1
    page = (await gateway.client.post("/sms/v1/Incoming", json={"apiKey": KEY})).json()
    assert page["IncomingMessages"][0]["Message"] == "first part  […]"
    assert await sweeper.sweep() == 0
    metrics = runtime.metrics.render().decode()
    assert "gatewayd_incoming_unrouted_total 0.0" in metrics
