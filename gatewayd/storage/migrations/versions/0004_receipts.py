"""receipts wait for their part a bounded time; status jobs name their message

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

import gatewayd.storage.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "time_expired",
                gatewayd.storage.types.UtcDateTime(timezone=True),
                nullable=True,
                comment="set when it stopped waiting for its part",
            )
        )
        batch_op.create_index(
            batch_op.f("ix_receipts_time_matched_time_expired_time_received"),
            ["time_matched", "time_expired", "time_received"],
            unique=False,
        )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "message_id",
                sa.String(length=64),
                nullable=True,
                comment="the message of a status job: sent in order",
            )
        )
        batch_op.create_index(
            batch_op.f("ix_outbox_message_id_channel_state"),
            ["message_id", "channel", "state"],
            unique=False,
        )
    # Pending status jobs name their message too, so the next status of it waits for them.
    message_id = (
        "record->>'MessageId'"
        if op.get_bind().dialect.name == "postgresql"
        else "json_extract(record, '$.MessageId')"
    )
    op.execute(
        f"UPDATE outbox SET message_id = {message_id} WHERE kind = 'status' AND state = 'pending'"
    )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_message_id_channel_state"))
        batch_op.drop_column("message_id")
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_receipts_time_matched_time_expired_time_received"))
        batch_op.drop_column("time_expired")
