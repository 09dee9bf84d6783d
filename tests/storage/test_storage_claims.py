"""Claiming due work: leases, expiry, and no row claimed by two nodes at once."""

from datetime import UTC, datetime, timedelta

import trio
from sqlalchemy import insert

from gatewayd.storage.claims import Claim, release_claims_of
from gatewayd.storage.engine import WRITES
from gatewayd.storage.tables import outbox

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)

CLAIM = Claim(outbox)


def _fill(engine, count: int, due: datetime = NOW) -> None:
    rows = [
        {
            "channel": "webhook",
            "application": "shop",
            "kind": "status",
            "record": {"n": n},
            "state": "pending",
            "attempts": 0,
            "time_created": NOW,
            "next_attempt_at": due,
        }
        for n in range(count)
    ]
    with engine.begin() as connection:
        connection.execute(insert(outbox), rows)


def _claim(engine, node: str, now: datetime = NOW, limit: int = 10):
    with engine.execution_options(**{WRITES: True}).begin() as connection:
        return CLAIM(connection, node=node, now=now, lease=LEASE, limit=limit)


def test_only_due_and_unleased_rows_are_claimed(engine):
    _fill(engine, 3)
    _fill(engine, 2, due=NOW + timedelta(minutes=5))
    first = _claim(engine, "node-a")
    assert len(first) == 3 and {row.claimed_by for row in first} == {"node-a"}
    assert _claim(engine, "node-b") == []
    later = _claim(engine, "node-b", now=NOW + LEASE + timedelta(minutes=5))
    assert len(later) == 5, "expired leases and newly due rows are claimable"


def test_rows_a_node_hands_back_are_claimable_at_once(engine):
    _fill(engine, 4)
    assert len(_claim(engine, "node-a")) == 4
    with engine.begin() as connection:
        release_claims_of(connection, "node-a")
    assert len(_claim(engine, "node-b")) == 4


async def test_two_nodes_claiming_together_never_share_a_row(engine):
    _fill(engine, 400)
    taken: dict[str, list[int]] = {"node-a": [], "node-b": []}

    async def node(name: str) -> None:
        while True:
            rows = await trio.to_thread.run_sync(_claim, engine, name, NOW, 7)
            if not rows:
                return
            taken[name] += [row.id for row in rows]

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(node, "node-a")
            nursery.start_soon(node, "node-b")
    both = taken["node-a"] + taken["node-b"]
    assert len(both) == 400 and len(set(both)) == 400
