"""The trace of one message: admin API and CLI, from acceptance to the last webhook attempt."""

from datetime import datetime, timedelta
from itertools import pairwise

import httpx
import trio
from sqlalchemy import select

from gatewayd.cli import main
from gatewayd.core.statuses import Status
from gatewayd.storage.tables import message_parts, messages, outbox
from tests.webhooks.test_webhook_outbox import with_hooks


async def _traced_message(gateway_factory, receiver):
    """A message whose Submitted webhook failed once (503), then went through, and whose
    Delivered webhook, waiting meanwhile (a message's statuses go out in order), went
    through at once."""
    gateway = await gateway_factory(accounts_patch=with_hooks(receiver, '["127.0.0.2"]'))
    runtime = gateway.runtime
    receiver.status = 503
    answer = await gateway.send(to="32470000001", message="trace me", reference="trace-1")
    message_id = answer["Messages"][0]["MessageId"]

    def jobs():
        with runtime.engine.connect() as connection:
            return sorted(connection.execute(select(outbox.c.state, outbox.c.attempts)).all())

    await gateway.wait_until(lambda: jobs() == [("pending", 0), ("pending", 1)])
    receiver.status = 200
    runtime.clock.advance(timedelta(hours=1))
    runtime.webhooks.wake()
    await gateway.wait_until(lambda: jobs() == [("delivered", 1), ("delivered", 2)])
    return gateway, message_id


async def test_a_trace_shows_every_event_of_a_message(gateway_factory, receiver):
    gateway, message_id = await _traced_message(gateway_factory, receiver)
    with gateway.runtime.engine.connect() as connection:
        carrier_id = connection.execute(select(message_parts.c.carrier_message_id)).scalar_one()

    answer = await gateway.admin.get("/admin/trace", params={"id": message_id})
    assert answer.status_code == 200, answer.text
    (trace,) = answer.json()["messages"]
    assert trace["message"]["MessageId"] == message_id
    assert trace["message"]["status"] == "Delivered"
    events = trace["events"]
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)
    assert events[0]["event"] == "accepted" and events[0]["front_door"] == "http"
    by_kind: dict[str, list[dict]] = {}
    for event in events:
        by_kind.setdefault(event["event"], []).append(event)
    (submitted,) = by_kind["submitted"]
    assert (submitted["part"], submitted["carrier"]) == (1, "sim")
    assert submitted["carrier_message_id"] == carrier_id
    assert [(r["part"], r["state"]) for r in by_kind["receipt"]] == [(1, "delivered")]
    assert [f["status"] for f in by_kind["final"]] == ["Delivered"]
    hooks = by_kind["webhook"]
    assert sorted((h["carried"], h["status_code"]) for h in hooks) == [
        ("Delivered", 200),
        ("Submitted", 200),
        ("Submitted", 503),
    ]
    assert {h["source_address"] for h in hooks} == {"127.0.0.2"}
    assert all(h["url"] == receiver.url and h["error"] is None for h in hooks)
    assert [h["status_code"] for h in events[-2:]] == [200, 200], "the retries came last"

    by_reference = await gateway.admin.get("/admin/trace", params={"reference": "trace-1"})
    by_recipient = await gateway.admin.get("/admin/trace", params={"to": "+32 470 00 00 01"})
    assert by_reference.json() == answer.json() == by_recipient.json()


async def test_the_trace_endpoint_refuses_bad_questions(gateway):
    assert (await gateway.admin.get("/admin/trace", params={"id": "nope"})).status_code == 404
    assert (await gateway.admin.get("/admin/trace")).status_code == 400
    both = await gateway.admin.get("/admin/trace", params={"id": "a", "to": "32470000001"})
    assert both.status_code == 400
    bare = httpx.AsyncClient(base_url=str(gateway.admin.base_url))
    assert (await bare.get("/admin/trace", params={"id": "nope"})).status_code == 401


async def test_the_trace_command_prints_the_same_events(
    gateway_factory, receiver, tmp_path, capsys
):
    gateway, message_id = await _traced_message(gateway_factory, receiver)
    config = tmp_path / "trace.yaml"
    url = gateway.runtime.holder.current.config.database.url
    config.write_text(f"database: {{url: '{url}'}}\n")
    capsys.readouterr()
    status = await trio.to_thread.run_sync(main, ["trace", "--config", str(config), message_id])
    out = capsys.readouterr().out
    assert status == 0, out
    lines = out.splitlines()
    assert lines[0].startswith(f"{message_id}  shop  to 32470000001  Delivered")
    assert "reference trace-1" in lines[0]
    kinds = [line.split()[1] for line in lines[1:]]
    assert kinds[0] == "accepted" and kinds.count("webhook") == 3
    assert {"sent", "submitted", "receipt", "final"} <= set(kinds)
    assert kinds.index("sent") < kinds.index("submitted") < kinds.index("receipt")
    assert any("status_code=503" in line and "source_address=127.0.0.2" in line for line in lines)
    by_to = await trio.to_thread.run_sync(
        main, ["trace", "--config", str(config), "--to", "32470000001", "--json"]
    )
    assert by_to == 0 and message_id in capsys.readouterr().out
    missing = await trio.to_thread.run_sync(
        main, ["trace", "--config", str(config), "--reference", "none"]
    )
    assert missing == 1 and "no such message" in capsys.readouterr().err


async def test_a_trace_shows_the_delivery_of_a_status_to_the_applications_binds(
    gateway_factory, nursery
):
    from tests.smpp.test_smpp_front_door import SUBMIT, bound_esme, with_smpp_app

    gateway = await gateway_factory(accounts_patch=with_smpp_app)
    esme, carrier = await bound_esme(nursery, gateway.smpp_port)
    with trio.fail_after(10):
        await carrier.wait_healthy()
    message_id = (await carrier.submit(SUBMIT)).message_id
    await esme.wait_for(1)

    def smpp_jobs():
        with gateway.runtime.engine.connect() as connection:
            query = select(outbox.c.state).where(outbox.c.channel == "smpp")
            return connection.execute(query).scalars().all()

    await gateway.wait_until(lambda: smpp_jobs() == ["delivered"])
    (trace,) = (await gateway.admin.get("/admin/trace", params={"id": message_id})).json()[
        "messages"
    ]
    assert trace["events"][0]["front_door"] == "smpp"
    (delivery,) = [e for e in trace["events"] if e["event"] == "smpp_delivery"]
    assert (delivery["carried"], delivery["state"], delivery["attempts"]) == (
        "Delivered",
        "delivered",
        1,
    )


def _paced(text: str) -> str:
    return text.replace(
        "    simulator: {receipt_delay_s: 0}", "    simulator: {receipt_delay_s: 0}\n    max_tps: 2"
    )


async def test_a_trace_shows_when_each_part_went_out_and_its_answers_came(gateway_factory):
    """Ten messages under a carrier max_tps of 2 leave over about four seconds (a burst of two,
    then one every half second): each trace shows its own send, its submit_sm_resp after it
    and its receipt after that, not the instant the batch was recorded."""
    gateway = await gateway_factory(accounts_patch=_paced)
    recipients = [f"3247000010{n}" for n in range(10)]
    answer = await gateway.send(to=",".join(recipients), message="paced")
    ids = [entry["MessageId"] for entry in answer["Messages"]]
    assert len(ids) == 10 and all(ids)

    def delivered() -> bool:
        with gateway.runtime.engine.connect() as connection:
            query = select(messages.c.status).where(messages.c.id.in_(ids))
            return connection.execute(query).scalars().all() == [Status.DELIVERED] * 10

    await gateway.wait_until(delivered, timeout_s=30)
    timelines = []
    for message_id in ids:
        answer = await gateway.admin.get("/admin/trace", params={"id": message_id})
        (trace,) = answer.json()["messages"]
        when = {e["event"]: datetime.fromisoformat(e["time"]) for e in trace["events"]}
        assert when["accepted"] <= when["sent"] <= when["submitted"] <= when["receipt"], when
        (submitted,) = [e for e in trace["events"] if e["event"] == "submitted"]
        response_ms = (when["submitted"] - when["sent"]).total_seconds() * 1000
        assert abs(submitted["response_ms"] - response_ms) <= 0.1
        timelines.append(when)
    sent = sorted(when["sent"] for when in timelines)
    spread = (sent[-1] - sent[0]).total_seconds()
    assert 3.5 <= spread <= 10, f"sends spread over {spread:.2f}s"
    gaps = [(b - a).total_seconds() for a, b in pairwise(sent[1:])]
    assert all(gap >= 0.3 for gap in gaps), f"one send every half second: {gaps}"
    for when in timelines:
        assert when["receipt"] - when["sent"] < timedelta(seconds=2), "its own receipt"
    receipts = sorted(when["receipt"] for when in timelines)
    assert (receipts[-1] - receipts[0]).total_seconds() >= 3.5, "receipts as they came"
