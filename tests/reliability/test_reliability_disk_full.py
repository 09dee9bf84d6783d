"""Issue #14 item 4, for real: `gatewayd run` keeps its SQLite database on a small tmpfs
that fills up for 15 s under traffic (ENOSPC: SQLite's "database or disk is full"). The
process stays up, answers 500 only for messages it did not store, delivers every message
it answered 200 (once each), and resumes when the disk has room again."""

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import trio

from tests.reliability.burst import (
    DELIVERED,
    DRAIN_TIMEOUT_S,
    carrier_copies,
    duplicates,
    poll_until_final,
    stored_statuses,
)
from tests.reliability.nodes import BINDS, KEY
from tests.storage_outage import CLIENTS, Traffic

FULL_S = 15
DISK = "64m"


@pytest.fixture
def small_disk(tmp_path: Path):
    """A tmpfs of its own (needs root); the test is skipped where it cannot be mounted."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def _fill(disk: Path) -> Path:
    """Take every free byte of the disk; the file that holds them."""
    junk = disk / "junk"
    # Unbuffered: a buffered file would flush what the full disk refused again at close, and
    # raise there.
    with junk.open("wb", buffering=0) as file:
        block = b"\0" * 65_536
        try:
            while True:
                file.write(block)
        except OSError:
            pass
        # What a 64 KiB block could not take, byte by byte.
        try:
            while True:
                os.write(file.fileno(), b"\0")
        except OSError:
            pass
    return junk


async def test_a_full_disk_for_15_s_under_traffic_slows_the_daemon_down_and_loses_nothing(
    smsc, make_node, small_disk, figures
):
    simulator, smsc_port = smsc
    database_url = f"sqlite:///{small_disk}/gatewayd.db"
    node = make_node("gw", database_url, smsc_port)
    await node.start()
    await simulator.wait_until(lambda: simulator.binds >= BINDS)
    async with httpx.AsyncClient(base_url=node.url, timeout=60) as client:
        traffic = Traffic(client, KEY)
        with trio.fail_after(120):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(traffic.run)
                await traffic.wait_accepted(200)
                junk = await trio.to_thread.run_sync(_fill, small_disk)
                accepted_at_full = len(traffic.accepted)
                await trio.sleep(FULL_S)  # the disk stays full this long, whatever happens
                accepted_during = len(traffic.accepted) - accepted_at_full
                alive_when_full = node.process.poll() is None
                junk.unlink()
                freed = time.monotonic()
                count = len(traffic.accepted)
                await traffic.wait_accepted(count + 1)
                resumed_s = time.monotonic() - freed
                await traffic.wait_accepted(count + 200)
                traffic.stop.set()

    accepted = set(traffic.accepted)
    records = await poll_until_final(node.url, accepted, simulator, DRAIN_TIMEOUT_S)
    stored = await trio.to_thread.run_sync(stored_statuses, database_url)
    copies = carrier_copies(simulator)
    log = node.log_tail(400)
    figures.add(
        f"disk full {FULL_S}s under {CLIENTS} clients: daemon up {alive_when_full}; "
        f"{len(accepted)} answered 200 ({accepted_during} while full), "
        f"{len(traffic.unavailable)} answered 500; answered 200 but not stored "
        f"{len(accepted - stored.keys())}; first 200 {resumed_s:.2f}s after the disk had room"
    )
    figures.add(
        f"final {len(accepted) - len(records.missing(accepted))} of {len(accepted)}; "
        f"receipts refused (ESME_RX_T_APPN) and sent again {simulator.receipts_refused}; "
        f"duplicates at the carrier {duplicates(copies)}"
    )

    assert alive_when_full and node.process.poll() is None, log
    assert "database or disk is full" in log
    assert traffic.other == []
    assert traffic.unavailable, "the full disk was felt"
    assert accepted <= stored.keys(), "answered 200 means stored"
    assert not traffic.unavailable & stored.keys(), "answered 500 means not stored"
    assert not records.missing(accepted)
    assert records.final_codes() == {DELIVERED: len(accepted)}
    assert set(copies) == accepted and duplicates(copies) == 0
    assert resumed_s < 10
