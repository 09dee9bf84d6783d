"""`gatewayd_message_statuses_total` counts every final status, whichever path set it."""

from collections import Counter
from datetime import timedelta

import trio
import trio.testing
from prometheus_client.parser import text_string_to_metric_families
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


async def _scraped(gateway) -> dict[tuple[str, frozenset], float]:
    """/metrics as the admin listener serves it: (sample name, its labels) -> value."""
    answer = await gateway.admin.get("/metrics")
    assert answer.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
        if sample.name.startswith("gatewayd_")
    }


def _series(scraped, name: str, mode: str) -> dict[frozenset, float]:
    return {
        labels: value
        for (sample, labels), value in scraped.items()
        if sample == name and ("mode", mode) in labels
    }


async def test_sandbox_traffic_is_counted_apart_from_live_traffic(gateway):
    """A sandbox send moves the `mode="sandbox"` series of the per-message metrics, never the
    live ones a dashboard of carrier traffic shows."""
    live = (await gateway.send(to="32470000001", message="live"))["Messages"][0]
    await gateway.wait_until(
        lambda: _status_code(gateway, "v1", live["MessageId"], Status.DELIVERED)
    )
    await trio.testing.wait_all_tasks_blocked()
    before = await _scraped(gateway)
    answer = await gateway.client.post(
        "/sms/sandbox/Message",
        json={"apiKey": KEY, "to": "32470000002,12", "message": "just a test"},
    )
    sent, refused = answer.json()["Messages"]
    assert (sent["ResultCode"], refused["ResultCode"]) == (0, 10)
    await gateway.wait_until(
        lambda: _status_code(gateway, "sandbox", sent["MessageId"], Status.DELIVERED)
    )
    await trio.testing.wait_all_tasks_blocked()
    after = await _scraped(gateway)

    names = [
        "gatewayd_messages_accepted_total",
        "gatewayd_message_statuses_total",
        "gatewayd_recipients_refused_total",
    ]
    for name in names:
        assert _series(after, name, "live") == _series(before, name, "live"), name
    assert _series(before, "gatewayd_messages_accepted_total", "live") != {}
    sandbox = {name: _series(after, name, "sandbox") for name in names}
    shop = ("application", "shop")
    assert sandbox["gatewayd_messages_accepted_total"] == {
        frozenset({shop, ("front_door", "http"), ("mode", "sandbox")}): 1.0
    }
    assert sandbox["gatewayd_message_statuses_total"] == {
        frozenset({shop, ("carrier", ""), ("status", "Delivered"), ("mode", "sandbox")}): 1.0
    }
    assert sandbox["gatewayd_recipients_refused_total"] == {
        frozenset({shop, ("reason", "invalid_number"), ("mode", "sandbox")}): 1.0
    }


async def _status_code(gateway, base: str, message_id: str, status: Status) -> bool:
    answer = await gateway.client.get(
        f"/sms/{base}/StatusMessage", params={"apiKey": KEY, "messageId": message_id}
    )
    return answer.json().get("StatusCode") == status.code
