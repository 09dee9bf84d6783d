"""While every carrier of a message's route is down, the message waits for one, holding its
claim: no churn of handing it back and claiming it again, and it goes as soon as a bind is up."""

import trio

from gatewayd.core.statuses import Status
from gatewayd.storage import messages as store


def _fast_reconnect(text: str) -> str:
    return text.replace(
        "simulator: {receipt_delay_s: 0}",
        "simulator: {receipt_delay_s: 0}\n    reconnect_min_s: 0.05\n    reconnect_max_s: 0.1",
    )


async def test_a_message_holds_its_claim_while_its_carrier_is_down(gateway_factory):
    gateway = await gateway_factory(accounts_patch=_fast_reconnect)
    pool = gateway.runtime.carriers
    carrier = pool.carriers["sim"]
    gateway.simulator.settings.system_id = "someone-else"  # binds are refused from now on
    await gateway.simulator.disconnect_all()
    with trio.fail_after(10):
        while carrier.healthy():
            await pool.wait_changed()

    answer = await gateway.send(to="32470000001", message="sent after the outage")
    message_id = answer["Messages"][0]["MessageId"]
    with trio.fail_after(10):
        for _ in range(6):  # three refused bind attempts: connecting, then down, each time
            await pool.wait_changed()

    def read():
        with gateway.runtime.engine.connect() as connection:
            return store.get_message(connection, message_id)

    waiting = await trio.to_thread.run_sync(read)
    assert waiting.status == Status.QUEUED and waiting.claimed_by == "test-node"
    assert gateway.simulator.submitted == []

    gateway.simulator.settings.system_id = None
    await gateway.wait_until(lambda: gateway.simulator.submitted)
    assert gateway.simulator.submitted[0].fields["destination_addr"] == b"32470000001"
    done = await trio.to_thread.run_sync(read)
    assert done.attempts == 0, "the message was never handed back to the queue"
