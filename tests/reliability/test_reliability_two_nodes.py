"""Issue #7, scenario 4: two `gatewayd run` nodes on one PostgreSQL database, bound to one
carrier. They share the queued work without ever submitting a message twice, and when one
of them stops in the middle of a burst the other finishes everything."""

import time
from collections import Counter

import pytest
import trio

from gatewayd.protocols.smpp.simulator import Simulator
from tests.reliability.burst import (
    DELIVERED,
    DRAIN_TIMEOUT_S,
    Burst,
    StatusRecords,
    carrier_copies,
    claims,
    duplicates,
    poll_until_final,
    stored_statuses,
)
from tests.reliability.nodes import BINDS, LEASE_S, WINDOW, MakeNode, Node

pytestmark = pytest.mark.postgres

TOTAL = 3000
STOP_AT_ACCEPTED = 1000
STOP_AT_SUBMITTED = 100


async def start_two_nodes(
    make_node: MakeNode, database_url: str, smsc: tuple[Simulator, int]
) -> tuple[Node, Node]:
    simulator, smsc_port = smsc
    nodes = (
        make_node("node-a", database_url, smsc_port),
        make_node("node-b", database_url, smsc_port),
    )
    async with trio.open_nursery() as nursery:
        for node in nodes:
            nursery.start_soon(node.start)
    await simulator.wait_until(lambda: simulator.binds >= 2 * BINDS)
    return nodes


def submits_by_node(simulator: Simulator) -> Counter[str]:
    """The nodes bind with their node id as system_id."""
    return Counter(submitted.system_id for submitted in simulator.submitted)


def final_figure(records: StatusRecords, expected: set[str]) -> str:
    return (
        f"final: {len(expected) - len(records.missing(expected))} of {len(expected)}, "
        f"by status {dict(records.final_codes())}"
    )


async def test_two_nodes_share_the_work_and_never_submit_a_message_twice(
    smsc, make_node, postgres_url, figures
):
    simulator, _ = smsc
    a, b = await start_two_nodes(make_node, postgres_url, smsc)
    burst = Burst([a.url, b.url], TOTAL)
    with trio.fail_after(60):
        await burst.run()
    accepted = set(burst.accepted.values())
    records = await poll_until_final(a.url, accepted, simulator, DRAIN_TIMEOUT_S)
    finish_s = time.monotonic() - burst.started
    copies = carrier_copies(simulator)
    per_node = submits_by_node(simulator)

    figures.add(
        f"accepted {len(accepted)} through both nodes in {burst.finished - burst.started:.1f}s"
    )
    figures.add(
        f"submits by node: {dict(per_node)}; duplicates at the carrier {duplicates(copies)}"
    )
    figures.add(
        f"{final_figure(records, accepted)}; all final {finish_s:.1f}s after the first request"
    )

    assert burst.refused == [] and burst.in_doubt == []
    assert per_node["node-a"] > 0 and per_node["node-b"] > 0, "both nodes took work"
    assert duplicates(copies) == 0, "no message submitted twice"
    assert set(copies) == accepted
    assert records.repeated() == {}, "each status record is handed out once"
    assert records.final_codes() == {DELIVERED: TOTAL}


async def stop(node: Node, how: str) -> int | None:
    """SIGTERM (the exit status) or SIGKILL (None)."""
    if how == "sigterm":
        return await node.terminate()
    await node.kill()
    return None


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
async def test_one_node_stops_mid_burst_and_the_other_finishes_all_the_work(
    how, smsc, make_node, postgres_url, figures
):
    simulator, _ = smsc
    a, b = await start_two_nodes(make_node, postgres_url, smsc)
    burst = Burst([a.url, b.url], TOTAL)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(burst.run)
            await burst.wait_accepted(STOP_AT_ACCEPTED)
            await simulator.wait_until(
                lambda: submits_by_node(simulator)["node-b"] >= STOP_AT_SUBMITTED
            )
            burst.targets.remove(b.url)
            stopped_at = time.monotonic()
            exit_status = await stop(b, how)
            accepted_at_stop, at_stop = len(burst.accepted), submits_by_node(simulator)

    left_claimed = (await trio.to_thread.run_sync(claims, postgres_url))["node-b"]
    stored = await trio.to_thread.run_sync(stored_statuses, postgres_url)
    accepted = set(burst.accepted.values())
    expected = accepted | (burst.in_doubt_recipients & stored.keys())
    deadline_s = DRAIN_TIMEOUT_S + (0 if how == "sigterm" else LEASE_S)
    records = await poll_until_final(a.url, expected, simulator, timeout_s=deadline_s)
    finish_s = time.monotonic() - stopped_at
    stored_after = await trio.to_thread.run_sync(stored_statuses, postgres_url)
    copies = carrier_copies(simulator)
    per_node = submits_by_node(simulator)

    figures.add(
        f"{how} node-b at {accepted_at_stop} accepted, submits by node then {dict(at_stop)}"
        + (f", exit status {exit_status}" if how == "sigterm" else f" (lease {LEASE_S:.0f}s)")
        + f"; it left {left_claimed} messages claimed"
    )
    figures.add(
        f"accepted {len(accepted)}; in doubt {len(burst.in_doubt)} requests "
        f"({len(expected - accepted)} of their messages stored); refused {len(burst.refused)}"
    )
    figures.add(
        f"submits by node: {dict(per_node)}; duplicates at the carrier {duplicates(copies)}"
    )
    figures.add(f"{final_figure(records, expected)}; all final {finish_s:.1f}s after the stop")

    if how == "sigterm":
        assert exit_status == 0
        assert left_claimed == 0, "a stopped node hands back what it had claimed"
    assert burst.refused == []
    assert accepted <= stored.keys(), "an answered message must be in the database"
    missing = records.missing(expected)
    assert not missing, (
        f"{len(missing)} stored messages not final after {deadline_s:.0f}s; their statuses: "
        f"{dict(Counter(stored_after[to] for to in missing))}"
    )
    assert records.repeated() == {}, "each status record is handed out once"
    assert records.final_codes() == {DELIVERED: len(expected)}
    assert stored_after == dict.fromkeys(expected, DELIVERED)
    assert set(copies) == expected
    assert duplicates(copies) <= WINDOW * BINDS, "only node-b's window may go out twice"
