"""fewer index entries per message: drop two indexes whose queries a wider one serves

- receipts (time_matched, time_received): retention's two receipt queries read the prefix
  of (time_matched, time_expired, time_received).
- messages (recipient): (application, recipient, time_created) becomes
  (recipient, application, time_created), which serves the trace by recipient and the
  last reference sent to a recipient alike.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_receipts_time_matched_time_received"))
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_recipient"))
        batch_op.drop_index(batch_op.f("ix_messages_application_recipient_time_created"))
        batch_op.create_index(
            batch_op.f("ix_messages_recipient_application_time_created"),
            ["recipient", "application", "time_created"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_recipient_application_time_created"))
        batch_op.create_index(
            batch_op.f("ix_messages_application_recipient_time_created"),
            ["application", "recipient", "time_created"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_messages_recipient"), ["recipient"], unique=False)
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_receipts_time_matched_time_received"),
            ["time_matched", "time_received"],
            unique=False,
        )
