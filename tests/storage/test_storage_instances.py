"""Instances and their leases: only a dead instance's claims are handed back."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from gatewayd.storage import instances as store
from gatewayd.storage.claims import Claim
from gatewayd.storage.engine import WRITES
from gatewayd.storage.tables import instances, outbox
from tests.storage.test_storage_claims import _fill

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
CLAIM_LEASE = timedelta(seconds=120)

CLAIM = Claim(outbox)


def _write(engine, operation):
    with engine.execution_options(**{WRITES: True}).begin() as connection:
        return operation(connection)


def _claimed_by(engine) -> list[str | None]:
    with engine.connect() as connection:
        return list(connection.execute(select(outbox.c.claimed_by)).scalars())


def _elsewhere(engine, instance_id: str) -> None:
    """As if the instance ran on another host: its pid says nothing here."""
    with engine.begin() as connection:
        connection.execute(
            update(instances).where(instances.c.id == instance_id).values(home="another host")
        )


def _join_and_claim(engine, instance_id: str) -> None:
    _write(engine, lambda c: store.register(c, instance_id, "gw", NOW, LEASE))
    _write(
        engine,
        lambda c: CLAIM(c, node=instance_id, now=NOW, lease=CLAIM_LEASE, limit=10),
    )


def test_instance_ids_differ_for_the_same_node_and_fit_a_claim():
    first, second = store.new_instance_id("x" * 80), store.new_instance_id("x" * 80)
    assert first != second and len(first) <= 64


def test_a_live_instance_keeps_its_claims_when_another_joins_on_the_same_node(engine):
    _fill(engine, 3)
    _join_and_claim(engine, "gw-first")
    _elsewhere(engine, "gw-first")

    taken = _write(
        engine,
        lambda c: (store.register(c, "gw-second", "gw", NOW, LEASE), store.take_over_dead(c, NOW)),
    )[1]

    assert taken == []
    assert _claimed_by(engine) == ["gw-first"] * 3


def test_an_instance_whose_lease_ran_out_is_forgotten_and_its_claims_run_out_alone(engine):
    """It may still run (cut from the database, stopped): it submits a claimed message only
    while the claim lasts, so its claims are taken when they end, not when its lease does."""
    _fill(engine, 3)
    _join_and_claim(engine, "gw-first")
    _elsewhere(engine, "gw-first")
    renewed_at = NOW + LEASE / 2
    assert _write(engine, lambda c: store.renew(c, "gw-first", "gw", renewed_at, LEASE))

    assert _write(engine, lambda c: store.take_over_dead(c, renewed_at + LEASE)) == []
    later = renewed_at + LEASE + timedelta(seconds=1)
    assert _write(engine, lambda c: store.take_over_dead(c, later)) == ["gw-first"]
    with engine.connect() as connection:
        assert connection.execute(select(instances.c.id)).all() == []

    def claim(now):
        return lambda c: CLAIM(c, node="gw-new", now=now, lease=LEASE, limit=10)

    assert _write(engine, claim(later)) == []
    assert len(_write(engine, claim(NOW + CLAIM_LEASE + timedelta(seconds=1)))) == 3


def test_an_instance_on_this_host_whose_process_is_gone_is_dead_at_once(engine):
    _fill(engine, 2)
    _join_and_claim(engine, "gw-gone")
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    with engine.begin() as connection:
        connection.execute(update(instances).values(pid=int(gone.stdout)))

    assert _write(engine, lambda c: store.take_over_dead(c, NOW)) == ["gw-gone"]
    assert _claimed_by(engine) == [None] * 2


def test_an_instance_that_outlived_its_lease_learns_it_and_is_registered_again(engine):
    _write(engine, lambda c: store.register(c, "gw-slow", "gw", NOW, LEASE))
    _elsewhere(engine, "gw-slow")
    late = NOW + LEASE * 3
    assert _write(engine, lambda c: store.take_over_dead(c, late)) == ["gw-slow"]

    assert not _write(engine, lambda c: store.renew(c, "gw-slow", "gw", late, LEASE))
    assert _write(engine, lambda c: store.renew(c, "gw-slow", "gw", late + LEASE / 3, LEASE))


def test_a_clean_stop_hands_back_its_claims_and_leaves(engine):
    _fill(engine, 2)
    _join_and_claim(engine, "gw-stopping")
    _write(engine, lambda c: store.leave(c, "gw-stopping"))
    assert _claimed_by(engine) == [None] * 2
    with engine.connect() as connection:
        assert connection.execute(select(instances.c.id)).all() == []
