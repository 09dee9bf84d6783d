"""A gateway restarted on a used database, against a carrier whose message ids repeat (its
counter wraps, or it restarted too): every receipt still reaches the message it is for."""

from collections import Counter

import pytest
import trio

from gatewayd.core.statuses import Status
from gatewayd.protocols.smpp.simulator import Simulator, SimulatorSettings
from tests.reliability.burst import Burst, msisdn, poll_until_final, stored_statuses
from tests.reliability.nodes import BINDS

PER_RUN = 200


@pytest.mark.parametrize("receipt_first", [False, True], ids=["after-response", "before-response"])
async def test_a_restart_against_a_carrier_reusing_ids_leaves_no_message_submitted(
    nursery, make_node, database_url, figures, receipt_first
):
    simulator = Simulator(
        SimulatorSettings(
            receipt_delay_s=0,
            first_id=70001,
            id_cycle=PER_RUN,
            receipt_before_response=receipt_first,
        )
    )
    _, smsc_port = await nursery.start(simulator.serve, "127.0.0.1", 0)
    node = make_node("restarted", database_url, smsc_port)
    stuck: list[int] = []
    for run in range(2):
        await node.start()
        binds = BINDS * (run + 1)
        await simulator.wait_until(lambda: simulator.binds >= binds)  # noqa: B023
        recipients = {msisdn(run * PER_RUN + n) for n in range(PER_RUN)}
        await Burst([node.url], PER_RUN, first_number=run * PER_RUN).run()
        await poll_until_final(node.url, recipients, simulator, timeout_s=30)
        statuses = await trio.to_thread.run_sync(stored_statuses, database_url)
        stuck.append(sum(statuses[to] == int(Status.SUBMITTED) for to in recipients))
        assert await node.terminate() == 0
    ids = Counter(s.message_id for s in simulator.submitted)
    assert len(ids) == PER_RUN and set(ids.values()) == {2}, "every id given twice"
    submits = Counter(s.fields["destination_addr"] for s in simulator.submitted)
    figures.add(
        f"carrier ids repeating after {PER_RUN}: stuck in Submitted after the first run "
        f"{stuck[0]}, after the restart {stuck[1]}; most submits of one message "
        f"{max(submits.values())}"
    )
    assert stuck == [0, 0]
    assert set(submits.values()) == {1}
