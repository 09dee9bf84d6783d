"""Two nodes on one PostgreSQL database: a receipt handled on one node while the other is
recording its part, neither transaction seeing the other's row (READ COMMITTED), is stored
unmatched although its part exists. It must still reach its part: a node stopped mid-burst
hands its binds' receipts to the other node exactly while it records its last parts."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from gatewayd.config.holder import ConfigHolder
from gatewayd.config.loader import parse_config
from gatewayd.config.schema import DatabaseConfig
from gatewayd.core.receipt_matching import ReceiptMatcher, SubmittedPart
from gatewayd.core.receipts import Receipt, ReceiptState
from gatewayd.core.statuses import Status
from gatewayd.storage import messages as store
from gatewayd.storage.engine import WRITES, open_engine
from gatewayd.storage.tables import messages, receipts
from gatewayd.storage.writer import Writer
from tests.rows import message_row

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
CONFIG = """
database: {{url: "{url}"}}
carriers:
  - name: sim
    simulator: {{}}
accounts:
  - name: acme
    applications:
      - name: shop
        api_keys: ["shop-key-0123456789"]
        alphanumeric_sender: true
"""


def _message(message_id: str) -> dict:
    return message_row(
        message_id,
        NOW,
        next_attempt_at=NOW,
        claimed_by="node-b",
        claimed_until=NOW + timedelta(minutes=2),
    )


@pytest.fixture
def nodes(postgres_url, tmp_path):
    """Two matchers, one per node, and the engine both write through."""
    config = parse_config(CONFIG.format(url=postgres_url))
    holder = ConfigHolder(Path(tmp_path / "gatewayd.yaml"), config)
    engine = open_engine(DatabaseConfig(url=postgres_url))
    writer = Writer(engine)
    matcher = ReceiptMatcher(holder, writer, lambda: NOW)
    yield engine, matcher, holder
    engine.dispose()


def _begin(engine):
    return engine.execution_options(**{WRITES: True}).connect()


async def test_a_receipt_stored_while_its_part_was_recorded_elsewhere_reaches_it(nodes, nursery):
    engine, matcher, holder = nodes
    await nursery.start(matcher._writer.run)
    with engine.begin() as connection:
        store.insert_messages(connection, [_message("m1")])
        row = connection.execute(select(messages).where(messages.c.id == "m1")).one()
    carrier = holder.current.config.carriers[0]
    part = SubmittedPart(row, 1, carrier, "abc123", last=True)
    receipt = Receipt("abc123", ReceiptState.DELIVERED, None)

    node_b = _begin(engine)
    node_a = _begin(engine)
    try:
        with node_b.begin():
            matcher._parts.run_bulk(node_b, [part])  # part inserted, no receipt seen yet
            with node_a.begin():
                applied = matcher.apply_in(node_a, [matcher.received("sim", receipt, "raw")])
            assert not applied[0].matched, "node a cannot see node b's uncommitted part"
    finally:
        node_a.close()
        node_b.close()

    await matcher.expiry.sweep()

    with engine.connect() as connection:
        status = connection.execute(select(messages.c.status).where(messages.c.id == "m1"))
        waiting = connection.execute(
            select(receipts.c.id).where(receipts.c.time_matched.is_(None))
        ).all()
    assert status.scalar_one() == int(Status.DELIVERED)
    assert waiting == []
