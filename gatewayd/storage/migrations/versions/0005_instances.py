"""running instances and their leases; idempotency keys of the Message API

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

import gatewayd.storage.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instances",
        sa.Column(
            "id",
            sa.String(length=64),
            nullable=False,
            comment="what its claims carry in claimed_by",
        ),
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column(
            "home", sa.String(length=255), nullable=False, comment="host, boot and pid namespace"
        ),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column(
            "time_started", gatewayd.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "lease_until",
            gatewayd.storage.types.UtcDateTime(timezone=True),
            nullable=False,
            comment="renewed while it runs",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instances")),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("application", sa.String(length=64), nullable=False),
        sa.Column(
            "key", sa.String(length=255), nullable=False, comment="the client's Idempotency-Key"
        ),
        sa.Column(
            "fingerprint",
            sa.String(length=64),
            nullable=False,
            comment="sha256 of the request's fields",
        ),
        sa.Column("status_code", sa.SmallInteger(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=False),
        sa.Column(
            "time_created", gatewayd.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("application", "key", name=op.f("pk_idempotency_keys")),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_keys_time_created"), ["time_created"], unique=False
        )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("instances")
