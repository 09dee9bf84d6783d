"""Priority and throughput per application, end to end through the simulator, on both
databases: due messages of a higher priority are submitted first (and carry it in their
submit_sm), an ESME's priority_flag counts where its application takes it, and a cap on an
application's messages a second makes them wait, never refused."""

from datetime import datetime, timedelta

import pytest
import trio

from gatewayd.core.statuses import Status
from gatewayd.protocols.smpp.client import Outcome
from tests.gateway import OTHER_KEY
from tests.smpp.test_smpp_front_door import SUBMIT, bound_esme, with_smpp_app


def _priorities(shop: int | None = None, other: int | None = None, extra: str = ""):
    def patch(text: str) -> str:
        if shop is not None:
            text = text.replace(
                "        max_parts: 3", f"        max_parts: 3\n        priority: {shop}"
            )
        if other is not None:
            text = text.replace(
                "        alphanumeric_sender: true",
                f"        alphanumeric_sender: true\n        priority: {other}",
            )
        return text.replace("        max_parts: 3", "        max_parts: 3" + extra)

    return patch


def _due_together() -> str:
    """A time a few seconds ahead, as RingRing's timeScheduled takes it (UTC)."""
    return (datetime.now().astimezone() + timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%S%z")


async def test_due_messages_of_a_higher_priority_are_submitted_first(gateway_factory):
    gateway = await gateway_factory(accounts_patch=_priorities(shop=0, other=2))
    due = _due_together()
    bulk = [f"3247{n:07d}" for n in range(250)]
    high = [f"3248{n:07d}" for n in range(10)]
    answer = await gateway.send(to=",".join(bulk), message="bulk", timeScheduled=due)
    assert answer["ResultCode"] == 0, answer
    response = await gateway.client.post(
        "/sms/v1/Message",
        json={
            "apiKey": OTHER_KEY,
            "to": ",".join(high),
            "from": "Acme",
            "message": "code 1234",
            "timeScheduled": due,
        },
    )
    assert response.json()["ResultCode"] == 0, response.json()
    simulator = gateway.simulator
    await simulator.wait_until(lambda: len(simulator.submitted) == 260, timeout_s=30)
    first = [s.fields["destination_addr"].decode() for s in simulator.submitted[:10]]
    assert sorted(first) == high
    flags = {
        s.fields["destination_addr"].decode(): s.fields["priority_flag"]
        for s in simulator.submitted
    }
    assert {flags[n] for n in high} == {2} and {flags[n] for n in bulk} == {0}


@pytest.mark.parametrize(("takes", "expected"), [(True, 3), (False, 1)])
async def test_an_esme_priority_flag_counts_only_where_its_application_takes_it(
    gateway_factory, nursery, takes, expected
):
    def patch(text: str) -> str:
        text = with_smpp_app(text).replace(
            "max_binds: 2}", f"max_binds: 2, priority_flag: {str(takes).lower()}}}"
        )
        return _priorities(shop=1)(text)

    gateway = await gateway_factory(accounts_patch=patch)
    _, carrier = await bound_esme(nursery, gateway.smpp_port)
    with trio.fail_after(10):
        await carrier.wait_healthy()
    result = await carrier.submit({**SUBMIT, "priority_flag": 3})
    assert result.outcome is Outcome.ACCEPTED
    simulator = gateway.simulator
    await simulator.wait_until(lambda: len(simulator.submitted) == 1)
    assert simulator.submitted[0].fields["priority_flag"] == expected


async def test_an_application_over_its_throughput_cap_waits_and_loses_nothing(gateway_factory):
    gateway = await gateway_factory(accounts_patch=_priorities(extra="\n        submit_max_tps: 5"))
    numbers = [f"3247{n:07d}" for n in range(12)]
    answer = await gateway.send(to=",".join(numbers), message="capped")
    assert answer["ResultCode"] == 0 and len(answer["Messages"]) == 12, answer
    simulator = gateway.simulator
    await simulator.wait_until(lambda: len(simulator.submitted) == 12, timeout_s=20)
    times = [s.time for s in simulator.submitted]
    # A bucket of one second's worth (5) goes at once; the other 7 at 5 a second.
    assert (max(times) - min(times)).total_seconds() >= 7 / 5 - 0.2

    def stored() -> list[tuple[int, int]]:
        with gateway.runtime.engine.connect() as connection:
            return connection.exec_driver_sql("select status, attempts from messages").all()

    await gateway.wait_until(lambda: all(status >= Status.SUBMITTED for status, _ in stored()))
    assert [attempts for _, attempts in stored()] == [0] * 12


async def test_other_applications_are_not_held_by_a_capped_one(gateway_factory):
    gateway = await gateway_factory(accounts_patch=_priorities(extra="\n        submit_max_tps: 1"))
    capped = [f"3247{n:07d}" for n in range(6)]
    assert (await gateway.send(to=",".join(capped), message="capped"))["ResultCode"] == 0
    response = await gateway.client.post(
        "/sms/v1/Message",
        json={"apiKey": OTHER_KEY, "to": "32480000001", "from": "Acme", "message": "free"},
    )
    assert response.json()["ResultCode"] == 0
    simulator = gateway.simulator

    def free_one_sent() -> bool:
        return any(s.fields["destination_addr"] == b"32480000001" for s in simulator.submitted)

    await simulator.wait_until(free_one_sent, timeout_s=10)
    capped_sent = [s for s in simulator.submitted if s.fields["short_message"] == b"capped"]
    assert len(capped_sent) < len(capped)  # the capped application is still waiting
