"""A message whose route has no healthy carrier waits for one outside the dispatcher's batch
slots: while one route is down, every other route's messages still go out at once, and the
waiting ones go as soon as their carrier is back, never handed back to the queue."""

from dataclasses import replace

import trio

from gatewayd.core.statuses import Status
from gatewayd.storage import messages as store

DOWN_CARRIER = """    simulator: {receipt_delay_s: 0}
  - name: down
    simulator: {receipt_delay_s: 0}
    reconnect_min_s: 0.05
    reconnect_max_s: 0.1
"""
ROUTES = """
routes:
  - {prefix: "3248", carriers: [down]}
  - {prefix: "", carriers: [sim]}
"""


async def _gateway_with_a_down_route(gateway_factory):
    gateway = await gateway_factory(
        extra=ROUTES,
        accounts_patch=lambda text: text.replace(
            "    simulator: {receipt_delay_s: 0}\n", DOWN_CARRIER, 1
        ),
    )
    pool = gateway.runtime.carriers
    down = pool.simulators["down"]
    down.settings.system_id = "someone-else"  # binds are refused from now on
    await down.disconnect_all()
    with trio.fail_after(10):
        while pool.carriers["down"].healthy():
            await pool.wait_changed()
    return gateway, down


def _read(gateway, message_ids: list[str]):
    def read():
        with gateway.runtime.engine.connect() as connection:
            return [store.get_message(connection, message_id) for message_id in message_ids]

    return trio.to_thread.run_sync(read)


async def test_messages_of_a_healthy_route_go_out_while_many_batches_wait_for_a_down_one(
    gateway_factory,
):
    gateway, down = await _gateway_with_a_down_route(gateway_factory)
    slots = gateway.runtime.dispatcher._settings
    rounds = 2 * slots.max_in_flight // slots.batch  # twice the batches handled at once
    waiting: list[str] = []
    for n in range(rounds):
        answer = await gateway.send(to=f"32480000{n:03d},32470000{n:03d}", message="hi")
        down_id, healthy_id = (m["MessageId"] for m in answer["Messages"])
        waiting.append(down_id)

        async def healthy_submitted(healthy_id=healthy_id):
            (message,) = await _read(gateway, [healthy_id])
            return message.time_submitted is not None

        # Each send is a batch of its own: the previous one's healthy message is out.
        await gateway.wait_until(healthy_submitted, timeout_s=5)

    assert len(gateway.simulator.submitted) == rounds
    for message in await _read(gateway, waiting):
        assert message.status == Status.QUEUED and message.claimed_by == "test-node"
        assert message.attempts == 0
    assert down.submitted == []

    down.settings.system_id = None

    async def all_submitted():
        return all(m.time_submitted is not None for m in await _read(gateway, waiting))

    await gateway.wait_until(all_submitted)
    assert all(m.attempts == 0 for m in await _read(gateway, waiting)), "never handed back"
    sent = sorted(s.fields["destination_addr"].decode() for s in down.submitted)
    assert sent == [f"32480000{n:03d}" for n in range(rounds)], "each once"
    assert gateway.runtime.dispatcher._unrouted == 0


async def test_messages_past_the_waiting_room_bound_go_back_to_the_queue_at_once(
    gateway_factory,
):
    gateway, down = await _gateway_with_a_down_route(gateway_factory)
    dispatcher = gateway.runtime.dispatcher
    dispatcher._settings = replace(dispatcher._settings, max_unrouted=2)
    answer = await gateway.send(to=",".join(f"3248000000{n}" for n in range(5)), message="hi")
    ids = [m["MessageId"] for m in answer["Messages"]]

    def handed_back(message) -> bool:
        return message.claimed_by is None and message.next_attempt_at > message.time_created

    async def decided():
        messages = await _read(gateway, ids)
        return sum(handed_back(m) for m in messages) == 3

    await gateway.wait_until(decided)
    messages = await _read(gateway, ids)
    assert sum(m.claimed_by == "test-node" for m in messages) == 2, "two wait for the route"
    assert all(m.status == Status.QUEUED and m.attempts == 0 for m in messages)
    assert dispatcher._unrouted == 2
    assert down.submitted == []
