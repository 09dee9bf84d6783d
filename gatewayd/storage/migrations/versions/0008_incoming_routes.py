"""incoming messages routed by keyword: the keyword, the gateway's action and its reply;
replies pinned to the carrier their incoming message came from; incoming messages by sender
(trace --from)

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incoming_messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "keyword",
                sa.String(length=32),
                nullable=True,
                comment="what routed it; null: the number's application",
            )
        )
        batch_op.add_column(
            sa.Column(
                "action",
                sa.String(length=8),
                nullable=True,
                comment="stop, start or help: what the gateway did",
            )
        )
        batch_op.add_column(
            sa.Column(
                "reply_id",
                sa.String(length=36),
                nullable=True,
                comment="the gateway's reply (confirmation, help text)",
            )
        )
        batch_op.create_index(
            batch_op.f("ix_incoming_messages_sender_time_received"),
            ["sender", "time_received"],
            unique=False,
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "pinned_carrier",
                sa.String(length=64),
                nullable=True,
                comment="a reply to an MO: the carrier it came from",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("pinned_carrier")
    with op.batch_alter_table("incoming_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incoming_messages_sender_time_received"))
        batch_op.drop_column("reply_id")
        batch_op.drop_column("action")
        batch_op.drop_column("keyword")
