"""Suspensions and maintenance mode in the database (both): each switched once, whoever
switches it again (another node at the same time) finds it so, and reading gives who and when."""

from datetime import UTC, datetime

from gatewayd.storage import operator_state as store
from gatewayd.storage.engine import WRITES

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


def _write(engine, change):
    with engine.execution_options(**{WRITES: True}).begin() as connection:
        return change(connection)


def test_each_switch_changes_once_and_reads_back_with_who_and_when(engine):
    assert _write(engine, lambda c: store.suspend(c, "carrier-a", "alice", NOW)) is True
    assert _write(engine, lambda c: store.suspend(c, "carrier-a", "bob", NOW)) is False
    assert _write(engine, lambda c: store.set_maintenance(c, True, "bob", NOW)) is True
    assert _write(engine, lambda c: store.set_maintenance(c, True, "alice", NOW)) is False
    with engine.connect() as connection:
        state = store.read_state(connection)
    assert state.suspended == {"carrier-a": store.Switch("alice", NOW)}
    assert state.maintenance == store.Switch("bob", NOW)

    assert _write(engine, lambda c: store.resume(c, "carrier-a")) is True
    assert _write(engine, lambda c: store.resume(c, "carrier-a")) is False
    assert _write(engine, lambda c: store.set_maintenance(c, False, "bob", NOW)) is True
    assert _write(engine, lambda c: store.set_maintenance(c, False, "bob", NOW)) is False
    with engine.connect() as connection:
        assert store.read_state(connection) == store.OperatorState({}, None)
