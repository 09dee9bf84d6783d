"""Issue #14 item 3: a second `gatewayd run` started by mistake on the same config (same node
id, same ports) while the first drains its queue. It must fail on its listeners having
touched nothing: the first keeps every claim, and the carrier sees each message once."""

import subprocess

import trio

from tests.daemon.conftest import child_environment, gatewayd_command
from tests.reliability.burst import (
    DELIVERED,
    DRAIN_TIMEOUT_S,
    Burst,
    carrier_copies,
    duplicates,
    poll_until_final,
)
from tests.reliability.nodes import BINDS

TOTAL = 3000
SECOND_AT_SUBMITTED = 300
TPS = 150
"""The carrier's rate limit: the queue takes about 20 s to drain, so the second process starts
and fails while the first holds a batch of claims it has not yet submitted."""


async def test_a_second_instance_on_the_same_config_fails_and_causes_no_duplicate(
    smsc, make_node, sqlite_url, figures
):
    simulator, smsc_port = smsc
    first = make_node("gw", sqlite_url, smsc_port)
    first.config_path.write_text(
        first.config_path.read_text().replace("    window:", f"    max_tps: {TPS}\n    window:")
    )
    await first.start()
    await simulator.wait_until(lambda: simulator.binds >= BINDS)
    burst = Burst([first.url], TOTAL)
    with trio.fail_after(60):
        await burst.run()
        await simulator.wait_until(lambda: len(simulator.submitted) >= SECOND_AT_SUBMITTED)
        second = await trio.to_thread.run_sync(
            lambda: subprocess.run(
                gatewayd_command("run", "--config", str(first.config_path)),
                env=child_environment(),
                cwd=first.directory,
                capture_output=True,
                text=True,
                timeout=30,
            )
        )
        submitted_when_second_exited = len(simulator.submitted)

    accepted = set(burst.accepted.values())
    records = await poll_until_final(first.url, accepted, simulator, DRAIN_TIMEOUT_S)
    copies = carrier_copies(simulator)
    figures.add(
        f"second instance exited {second.returncode} after "
        f"{submitted_when_second_exited} of {TOTAL} submits: {second.stderr.strip()[-120:]}"
    )
    figures.add(f"duplicates at the carrier: {duplicates(copies)} of {len(copies)} messages")

    assert second.returncode != 0
    assert "address already in use" in second.stderr
    assert submitted_when_second_exited < TOTAL, "the drain was still going on"
    assert burst.refused == [] and len(accepted) == TOTAL
    assert not records.missing(accepted)
    assert records.final_codes() == {DELIVERED: TOTAL}
    assert set(copies) == accepted
    assert duplicates(copies) == 0
