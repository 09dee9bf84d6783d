"""Issue #7, scenario 1: `gatewayd run` killed with SIGKILL in the middle of a burst, then
restarted on the same SQLite file. Accepted means committed: every accepted message reaches
a final status; the carrier may see a message twice, but only within the window."""

import time

import pytest
import trio

from tests.reliability.burst import (
    DELIVERED,
    DRAIN_TIMEOUT_S,
    Burst,
    carrier_copies,
    duplicates,
    poll_until_final,
    stored_statuses,
)
from tests.reliability.nodes import BINDS, WINDOW

TOTAL = 5000
KILL_AT_ACCEPTED = 2000
KILL_AT_SUBMITTED = 200


@pytest.mark.parametrize("workers", [0, 2], ids=["API in the daemon", "API in 2 workers"])
async def test_kill_9_mid_burst_then_restart_every_accepted_message_ends_final(
    smsc, make_node, sqlite_url, figures, workers
):
    """With HTTP workers, kill -9 hits the carrier process (the unit's main process); its
    workers see the link end and stop, and the restarted daemon binds the port again."""
    simulator, smsc_port = smsc
    node = make_node("crash-node", sqlite_url, smsc_port, workers)
    await node.start()
    await simulator.wait_until(lambda: simulator.binds >= BINDS)
    burst = Burst([node.url], TOTAL)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(burst.run)
            await burst.wait_accepted(KILL_AT_ACCEPTED)
            await simulator.wait_until(lambda: len(simulator.submitted) >= KILL_AT_SUBMITTED)
            burst.hold()
            await node.kill()
            accepted_at_kill, submits_at_kill = len(burst.accepted), len(simulator.submitted)
            killed = time.monotonic()
            await node.start()
            restart_s = time.monotonic() - killed
            burst.release()

    stored = await trio.to_thread.run_sync(stored_statuses, sqlite_url)
    accepted = set(burst.accepted.values())
    stored_in_doubt = burst.in_doubt_recipients & stored.keys()
    expected = accepted | stored_in_doubt
    records = await poll_until_final(node.url, expected, simulator, DRAIN_TIMEOUT_S)
    drain_s = time.monotonic() - burst.finished
    stored_after = await trio.to_thread.run_sync(stored_statuses, sqlite_url)
    copies = carrier_copies(simulator)
    duplicated = duplicates(copies)

    figures.add(
        f"accepted {len(accepted)} messages ({burst.per_request} recipients a request, "
        f"{burst.clients} clients) in {burst.finished - burst.started:.1f}s"
    )
    figures.add(
        f"kill -9 at {accepted_at_kill} accepted, {submits_at_kill} submits at the carrier; "
        f"READY again {restart_s:.1f}s later"
    )
    figures.add(
        f"in doubt (answer cut by the kill): {len(burst.in_doubt)} requests, "
        f"{len(burst.in_doubt_recipients)} messages, {len(stored_in_doubt)} of them stored"
    )
    figures.add(
        f"final after restart: {len(expected) - len(records.missing(expected))} of "
        f"{len(expected)} stored, by status {dict(records.final_codes())}; "
        f"refused answers {len(burst.refused)}"
    )
    figures.add(f"duplicates at the carrier: {duplicated} (bound: window {WINDOW} x binds {BINDS})")
    figures.add(f"drained {drain_s:.1f}s after the last accepted answer ({records.polls} polls)")

    assert burst.refused == []
    assert accepted <= stored.keys(), "an answered message must be in the database"
    missing = records.missing(expected)
    assert not missing, f"{len(missing)} stored messages not final, e.g. {sorted(missing)[:5]}"
    assert records.repeated() == {}, "each status record is handed out once"
    assert {records.final(to)["MessageId"]: to for to in accepted} == burst.accepted
    assert records.final_codes() == {DELIVERED: len(expected)}
    assert stored_after == dict.fromkeys(expected, DELIVERED), "nothing left behind, nothing extra"
    assert set(copies) == expected, "every stored message reached the carrier, nothing else did"
    assert duplicated <= WINDOW * BINDS, "more sent twice than one window per bind can hold"
