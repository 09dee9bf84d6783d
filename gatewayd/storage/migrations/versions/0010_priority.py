"""a priority per message: due messages of a higher one are claimed first

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "priority",
                sa.SmallInteger(),
                server_default="0",
                nullable=False,
                comment="0-3: due messages of a higher one are claimed first",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("priority")
