"""`gatewayd_message_statuses_total` counts every final status, whichever path set it."""

from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select

from gatewayd.core.receipt_deadline import ReceiptDeadline
from gatewayd.core.statuses import Status
from gatewayd.storage.tables import messages
from tests.gateway import KEY, OTHER_KEY

NEVER = '\n        time_windows: [{days: [mon], start: "00:00", end: "00:01"}]'


def _other_app_never_sends(text: str) -> str:
    line = "        alphanumeric_sender: true"
    return text.replace(line, line + NEVER)


def _counted(metrics) -> Counter:
    counted: Counter = Counter()
    for family in metrics.registry.collect():
        if family.name != "gatewayd_message_statuses":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                counted[sample.labels["status"]] += int(sample.value)
    return counted


async def test_every_final_status_reaches_the_statuses_metric(gateway_factory):
    gateway = await gateway_factory(accounts_patch=_other_app_never_sends)
    runtime = gateway.runtime
    delivered = (await gateway.send(to="32470000001", message="delivered"))["Messages"][0]
    later = await gateway.send(to="32470000002", message="later", timeScheduled="2099-01-01T10:00")
    cancel = await gateway.client.post(
        "/sms/v1/Cancel", json={"apiKey": KEY, "messageId": later["Messages"][0]["MessageId"]}
    )
    assert cancel.json()["ResultCode"] == 0
    dropped = await gateway.client.post(
        "/sms/v1/Message",
        json={"apiKey": OTHER_KEY, "to": "32470000003", "message": "x", "senderId": "Shop"},
    )
    assert dropped.json()["Messages"][0]["ResultCode"] == 0

    async def status_is(message_id: str, status: Status) -> bool:
        return (await gateway.status_of(message_id))["StatusCode"] == status.code

    await gateway.wait_until(lambda: status_is(delivered["MessageId"], Status.DELIVERED))
    gateway.simulator.settings.receipts = False
    silent = (await gateway.send(to="32470000004", message="no receipt"))["Messages"][0]
    await gateway.wait_until(lambda: status_is(silent["MessageId"], Status.SUBMITTED))
    deadline = ReceiptDeadline(
        runtime.holder, runtime.writer, runtime.clock, on_status=runtime.metrics.count_status
    )
    runtime.clock.advance(timedelta(hours=72 + 2))
    assert await deadline.sweep() == 1

    with runtime.engine.connect() as connection:
        stored = Counter(
            {
                Status(status).description: count
                for status, count in connection.execute(
                    select(messages.c.status, func.count()).group_by(messages.c.status)
                )
                if Status(status).final
            }
        )
    assert set(stored) == {"Delivered", "Cancelled", "Dropped", "Unknown"}
    counted = _counted(runtime.metrics)
    assert {status: counted[status] for status in stored} == stored
