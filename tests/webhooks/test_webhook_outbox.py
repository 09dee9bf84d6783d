"""Webhooks end to end: from an API request or an incoming message to a receiver, durably."""

from datetime import timedelta

import trio
from sqlalchemy import select

from gatewayd.core.statuses import Status
from gatewayd.storage.tables import outbox
from tests.gateway import KEY

DELIVERED_JSON = b'"StatusCode":"%s"' % Status.DELIVERED.code.encode()

HOOKS = """
        webhooks:
          status: {{url: "{url}", method: POST, format: JSON}}
          incoming: {{url: "{url}", method: GET, format: XML}}
          signing_secret: hook-secret"""


def with_hooks(receiver, sources: str = "[]"):
    def patch(text: str) -> str:
        text = text.replace(
            "        max_parts: 3", "        max_parts: 3" + HOOKS.format(url=receiver.url)
        )
        return text.replace("carriers:", f"webhooks: {{source_addresses: {sources}}}\ncarriers:", 1)

    return patch


async def test_a_sent_message_produces_its_status_webhooks_from_a_source_address(
    gateway_factory, receiver
):
    gateway = await gateway_factory(accounts_patch=with_hooks(receiver, '["127.0.0.2"]'))
    answer = await gateway.send(to="32470000001", message="hook me", reference="ref-9")
    message_id = answer["Messages"][0]["MessageId"]
    with trio.fail_after(10):
        while not any(DELIVERED_JSON in r.body for r in receiver.requests):
            await receiver.changed.wait()
    final = next(r for r in receiver.requests if DELIVERED_JSON in r.body)
    assert final.peer == "127.0.0.2"
    assert b'"MessageId":"%s"' % message_id.encode() in final.body and b'"ref-9"' in final.body
    assert final.headers["x-gatewayd-signature"].startswith("sha256=")
    addresses = (await gateway.client.get("/webhooks/source-addresses")).json()
    assert addresses["SourceAddresses"] == ["127.0.0.2"]


async def test_an_incoming_message_reaches_the_incoming_webhook_as_get(gateway_factory, receiver):
    gateway = await gateway_factory(accounts_patch=with_hooks(receiver))
    await gateway.simulator.inject_mo("32470000001", "8686", b"Hello back")
    await receiver.wait_for(1)
    request = receiver.requests[0]
    assert request.method == "GET" and request.query["Message"] == "Hello back"
    assert request.query["From"] == "32470000001" and request.query["To"] == "8686"


async def test_a_receiver_that_is_down_gets_every_webhook_once_it_is_back(
    gateway_factory, receiver
):
    gateway = await gateway_factory(accounts_patch=with_hooks(receiver))
    runtime = gateway.runtime
    receiver.status = 503
    for n in range(3):
        await gateway.simulator.inject_mo("32470000001", "8686", b"msg %d" % n)

    def states():
        with runtime.engine.connect() as connection:
            return sorted(connection.execute(select(outbox.c.state, outbox.c.attempts)).all())

    await gateway.wait_until(lambda: states() == [("pending", 1)] * 3)
    receiver.status = 200
    runtime.clock.advance(timedelta(hours=1))
    runtime.webhooks.wake()
    await receiver.wait_for(6)

    await gateway.wait_until(lambda: all(state == "delivered" for state, _ in states()))
    assert states() == [("delivered", 2)] * 3
    delivered = sorted(r.query["Message"] for r in receiver.requests[3:])
    assert delivered == ["msg 0", "msg 1", "msg 2"]


async def test_a_job_past_the_horizon_is_marked_failed(gateway_factory, receiver):
    gateway = await gateway_factory(accounts_patch=with_hooks(receiver))
    runtime = gateway.runtime
    receiver.status = 500
    await gateway.simulator.inject_mo("32470000001", "8686", b"never")

    def attempts():
        with runtime.engine.connect() as connection:
            return connection.execute(select(outbox.c.attempts)).scalar_one()

    await gateway.wait_until(lambda: attempts() == 1)
    runtime.clock.advance(timedelta(days=2))
    runtime.webhooks.wake()

    def state():
        with runtime.engine.connect() as connection:
            return connection.execute(select(outbox.c.state)).scalar_one()

    await gateway.wait_until(lambda: state() == "failed")
    assert len(receiver.requests) == 2


async def test_final_statuses_only_leaves_out_the_submitted_webhook(gateway_factory, receiver):
    def patch(text: str) -> str:
        return with_hooks(receiver)(text).replace(
            "          signing_secret: hook-secret",
            "          signing_secret: hook-secret\n          final_statuses_only: true",
        )

    gateway = await gateway_factory(accounts_patch=patch)
    answer = await gateway.send(to="32470000001", message="only the end")
    message_id = answer["Messages"][0]["MessageId"]
    with trio.fail_after(10):
        while not any(DELIVERED_JSON in r.body for r in receiver.requests):
            await receiver.changed.wait()

    def status_jobs():
        with gateway.runtime.engine.connect() as connection:
            query = select(outbox.c.message_id, outbox.c.status).where(outbox.c.kind == "status")
            return connection.execute(query).all()

    jobs = await trio.to_thread.run_sync(status_jobs)
    assert [(job.message_id, Status(job.status).code) for job in jobs] == [
        (message_id, Status.DELIVERED.code)
    ]
    polled = await gateway.client.post("/sms/v1/Status", json={"apiKey": KEY})
    assert [r["StatusCode"] for r in polled.json()["StatusMessages"]] == [
        Status.SUBMITTED.code,
        Status.DELIVERED.code,
    ], "polling still hands out every status"


async def test_a_job_that_cannot_be_built_fails_alone_and_the_outbox_goes_on(
    gateway_factory, receiver
):
    gateway = await gateway_factory(accounts_patch=with_hooks(receiver))
    runtime = gateway.runtime
    now = runtime.clock()
    unbuildable = {
        "channel": "webhook",
        "application": "shop",
        "kind": "nokind",  # no XML root element for it: building the request raises
        "url": receiver.url,
        "method": "POST",
        "format": "XML",
        "record": {"MessageId": "x"},
        "state": "pending",
        "attempts": 0,
        "time_created": now,
        "next_attempt_at": now,
    }
    await runtime.writer.write(lambda c: c.execute(outbox.insert(), [unbuildable]))
    runtime.webhooks.wake()

    def bad_job():
        with runtime.engine.connect() as connection:
            query = select(outbox.c.attempts, outbox.c.last_error).where(outbox.c.kind == "nokind")
            return connection.execute(query).one()

    await gateway.wait_until(lambda: bad_job().attempts == 1)
    assert bad_job().last_error == "internal error: KeyError"
    await gateway.simulator.inject_mo("32470000001", "8686", b"still running")
    with trio.fail_after(10):
        while not any("still" in r.query_string for r in receiver.requests):
            await receiver.changed.wait()
