"""each part's submit_sm send time beside its submit_sm_resp time

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

import gatewayd.storage.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message_parts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "time_sent",
                gatewayd.storage.types.UtcDateTime(timezone=True),
                nullable=True,
                comment="submit_sm written; time_submitted: its response",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("message_parts", schema=None) as batch_op:
        batch_op.drop_column("time_sent")
