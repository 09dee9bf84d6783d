"""records: the webhook attempt log, and the indexes retention and traces read by

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 06:40:00
"""

import sqlalchemy as sa
from alembic import op

import gatewayd.storage.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# (table, columns) of every index this revision adds; names follow the metadata's convention.
INDEXES = [
    ("messages", ["time_done"]),
    ("messages", ["recipient"]),
    ("messages", ["reference"]),
    ("receipts", ["time_matched", "time_received"]),
    ("incoming_messages", ["time_received"]),
    ("poll_queue", ["time_fetched", "time_created"]),
    ("outbox", ["time_done"]),
    ("outbox", ["application", "time_created"]),
    ("request_logs", ["time_created"]),
]


def _name(table: str, columns: list[str]) -> str:
    return f"ix_{table}_{'_'.join(columns)}"


def upgrade() -> None:
    op.create_table(
        "webhook_attempts",
        sa.Column("id", AutoId, autoincrement=True, nullable=False),
        sa.Column("outbox_id", AutoId, nullable=False, comment="the outbox job; deleted with it"),
        sa.Column(
            "time_attempted", gatewayd.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "status_code",
            sa.SmallInteger(),
            nullable=True,
            comment="the receiver's HTTP status, if it answered",
        ),
        sa.Column(
            "error", sa.String(length=255), nullable=True, comment="null when the receiver answered"
        ),
        sa.Column(
            "source_address",
            sa.String(length=45),
            nullable=True,
            comment="our egress address; null = the default",
        ),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
    )
    with op.batch_alter_table("webhook_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhook_attempts_outbox_id"), ["outbox_id"])
    for table, columns in INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(_name(table, columns)), columns, unique=False)


def downgrade() -> None:
    for table, columns in reversed(INDEXES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(_name(table, columns)))
    with op.batch_alter_table("webhook_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_attempts_outbox_id"))
    op.drop_table("webhook_attempts")
