"""quota counters: trial and period quotas, shared by every node

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quota_counters",
        sa.Column(
            "counter",
            sa.String(length=160),
            nullable=False,
            comment="whose quota of what, per what",
        ),
        sa.Column(
            "period",
            sa.String(length=16),
            nullable=False,
            comment="2026-12-07, 2026-12 or trial",
        ),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("counter", "period", name=op.f("pk_quota_counters")),
    )


def downgrade() -> None:
    op.drop_table("quota_counters")
