"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 02:24:14.815371
"""

import sqlalchemy as sa
from alembic import op

import gatewayd.storage.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blacklist",
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("msisdn", sa.String(length=15), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False, comment="stop, admin or cli"),
        sa.Column("note", sa.String(length=255), nullable=True),
        sa.Column(
            "time_created", gatewayd.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("account", "msisdn", name=op.f("pk_blacklist")),
    )
    op.create_table(
        "incoming_messages",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=True),
        sa.Column(
            "application",
            sa.String(length=64),
            nullable=True,
            comment="null when no application owns the number",
        ),
        sa.Column("carrier", sa.String(length=64), nullable=True),
        sa.Column("sender", sa.String(length=21), nullable=False),
        sa.Column("recipient", sa.String(length=21), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column(
            "time_received", gatewayd.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incoming_messages")),
    )
    with op.batch_alter_table("incoming_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_incoming_messages_application_time_received"),
            ["application", "time_received"],
            unique=False,
        )

    op.create_table(
        "messages",
        sa.Column(
            "id", sa.String(length=32), nullable=False, comment="MessageId given to the client"
        ),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("application", sa.String(length=64), nullable=False),
        sa.Column("sandbox", sa.Boolean(), nullable=False),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("recipient", sa.String(length=15), nullable=False),
        sa.Column("sender", sa.String(length=21), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("encoding", sa.String(length=8), nullable=False, comment="TEXT or UNICODE"),
        sa.Column("number_of_parts", sa.SmallInteger(), nullable=False),
        sa.Column("number_of_chars", sa.Integer(), nullable=False),
        sa.Column(
            "concat_ref",
            sa.SmallInteger(),
            nullable=False,
            comment="UDH/SAR reference, kept on retry",
        ),
        sa.Column("replace_if_present", sa.Boolean(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("status_description", sa.String(length=255), nullable=False),
        sa.Column("smpp_status", sa.Integer(), nullable=True),
        sa.Column("carrier", sa.String(length=64), nullable=True),
        sa.Column("status_url", sa.Text(), nullable=True),
        sa.Column("status_method", sa.String(length=4), nullable=True),
        sa.Column("status_format", sa.String(length=4), nullable=True),
        sa.Column("front_door", sa.String(length=8), nullable=False),
        sa.Column(
            "time_created", gatewayd.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "time_scheduled", gatewayd.storage.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "time_submitted", gatewayd.storage.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "time_done",
            gatewayd.storage.types.UtcDateTime(timezone=True),
            nullable=True,
            comment="DeliveryTime: when the status became final",
        ),
        sa.Column(
            "validity_until", gatewayd.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "next_attempt_at",
            gatewayd.storage.types.UtcDateTime(timezone=True),
            nullable=True,
            comment="due time while waiting to be sent",
        ),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column(
            "claimed_until", gatewayd.storage.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_messages_application_time_created"),
            ["application", "time_created"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_messages_next_attempt_at"), ["next_attempt_at"], unique=False
        )

    op.create_table(
        "mo_fragments",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("carrier", sa.String(length=64), nullable=False),
        sa.Column("sender", sa.String(length=21), nullable=False),
        sa.Column("recipient", sa.String(length=21), nullable=False),
        sa.Column("reference", sa.Integer(), nullable=False),
        sa.Column("total", sa.SmallInteger(), nullable=False),
        sa.Column("seq", sa.SmallInteger(), nullable=False),
        sa.Column("data_coding", sa.SmallInteger(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column(
            "time_received", gatewayd.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mo_fragments")),
        sa.UniqueConstraint(
            "carrier",
            "sender",
            "recipient",
            "reference",
            "total",
            "seq",
            name=op.f("uq_mo_fragments_carrier_sender_recipient_reference_total_seq"),
        ),
    )
    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("channel", sa.String(length=8), nullable=False, comment="webhook or smpp"),
        sa.Column("application", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False, comment="status or incoming"),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("method", sa.String(length=4), nullable=True),
        sa.Column("format", sa.String(length=4), nullable=True),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column(
            "state", sa.String(length=10), nullable=False, comment="pending, delivered, failed"
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=255), nullable=True),
        sa.Column(
            "time_created", gatewayd.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "next_attempt_at", gatewayd.storage.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("time_done", gatewayd.storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column(
            "claimed_until", gatewayd.storage.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_channel_state_next_attempt_at"),
            ["channel", "state", "next_attempt_at"],
            unique=False,
        )

    op.create_table(
        "poll_queue",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("application", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False, comment="status or incoming"),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column(
            "time_created", gatewayd.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column("time_fetched", gatewayd.storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poll_queue")),
    )
    with op.batch_alter_table("poll_queue", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_poll_queue_application_kind_time_fetched_id"),
            ["application", "kind", "time_fetched", "id"],
            unique=False,
        )

    op.create_table(
        "receipts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("carrier", sa.String(length=64), nullable=False),
        sa.Column("carrier_message_id", sa.String(length=65), nullable=False),
        sa.Column("carrier_id_key", sa.String(length=65), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("error", sa.String(length=64), nullable=True),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.Column(
            "time_received", gatewayd.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "time_matched",
            gatewayd.storage.types.UtcDateTime(timezone=True),
            nullable=True,
            comment="null while no submitted part matches",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipts")),
    )
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_receipts_carrier_carrier_id_key"),
            ["carrier", "carrier_id_key"],
            unique=False,
        )

    op.create_table(
        "request_logs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("application", sa.String(length=64), nullable=True),
        sa.Column(
            "time_created", gatewayd.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column("client_ip", sa.String(length=45), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("status_code", sa.SmallInteger(), nullable=False),
        sa.Column("request_body", sa.Text(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_logs")),
    )
    with op.batch_alter_table("request_logs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_request_logs_application_time_created"),
            ["application", "time_created"],
            unique=False,
        )

    op.create_table(
        "message_parts",
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("part_no", sa.SmallInteger(), nullable=False),
        sa.Column("carrier", sa.String(length=64), nullable=False),
        sa.Column("carrier_message_id", sa.String(length=65), nullable=False),
        sa.Column(
            "carrier_id_key",
            sa.String(length=65),
            nullable=False,
            comment="normalized for receipts",
        ),
        sa.Column(
            "state", sa.String(length=12), nullable=False, comment="submitted, delivered, failed"
        ),
        sa.Column("error", sa.String(length=64), nullable=True),
        sa.Column(
            "time_submitted", gatewayd.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column("time_done", gatewayd.storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_message_parts_message_id_messages")
        ),
        sa.PrimaryKeyConstraint("message_id", "part_no", name=op.f("pk_message_parts")),
    )
    with op.batch_alter_table("message_parts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_message_parts_carrier_carrier_id_key"),
            ["carrier", "carrier_id_key"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("message_parts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_parts_carrier_carrier_id_key"))

    op.drop_table("message_parts")
    with op.batch_alter_table("request_logs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_logs_application_time_created"))

    op.drop_table("request_logs")
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_receipts_carrier_carrier_id_key"))

    op.drop_table("receipts")
    with op.batch_alter_table("poll_queue", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_poll_queue_application_kind_time_fetched_id"))

    op.drop_table("poll_queue")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_channel_state_next_attempt_at"))

    op.drop_table("outbox")
    op.drop_table("mo_fragments")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_messages_application_time_created"))

    op.drop_table("messages")
    with op.batch_alter_table("incoming_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incoming_messages_application_time_received"))

    op.drop_table("incoming_messages")
    op.drop_table("blacklist")
