"""operator state that survives a restart: suspended carriers, maintenance mode; the audit
of admin commands

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

import gatewayd.storage.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "carrier_suspensions",
        sa.Column(
            "carrier",
            sa.String(length=64),
            nullable=False,
            comment="no new submits while listed",
        ),
        sa.Column(
            "suspended_by",
            sa.String(length=64),
            nullable=False,
            comment="the admin token's name",
        ),
        sa.Column(
            "time_suspended", gatewayd.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("carrier", name=op.f("pk_carrier_suspensions")),
    )
    op.create_table(
        "maintenance_mode",
        sa.Column(
            "id", sa.SmallInteger(), nullable=False, comment="always 1: present while it is on"
        ),
        sa.Column("set_by", sa.String(length=64), nullable=False, comment="the admin token's name"),
        sa.Column("time_set", gatewayd.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_mode")),
    )
    op.create_table(
        "admin_audit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "time_created", gatewayd.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "token_name",
            sa.String(length=64),
            nullable=False,
            comment="who: the admin token's name",
        ),
        sa.Column("command", sa.String(length=32), nullable=False),
        sa.Column(
            "target",
            sa.String(length=255),
            nullable=True,
            comment="the carrier, bind, message, ... it acted on",
        ),
        sa.Column("outcome", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_audit")),
    )
    with op.batch_alter_table("admin_audit", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_admin_audit_time_created"), ["time_created"], unique=False
        )


def downgrade() -> None:
    op.drop_table("admin_audit")
    op.drop_table("maintenance_mode")
    op.drop_table("carrier_suspensions")
