"""outbox jobs are found by the message they carry: every job names it (an incoming job its
incoming message), jobs stored without one get it from their record, and the
(application, time_created) index, which only the trace used, is dropped: one index entry
fewer per job.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

MESSAGE_ID_COMMENT = "the message (or incoming message) a job carries; status jobs go in order"
OLD_MESSAGE_ID_COMMENT = "the message of a status job: sent in order"


def upgrade() -> None:
    message_id = (
        "record->>'MessageId'"
        if op.get_bind().dialect.name == "postgresql"
        else "json_extract(record, '$.MessageId')"
    )
    op.execute(
        f"UPDATE outbox SET message_id = {message_id} "
        "WHERE message_id IS NULL AND record IS NOT NULL"
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_application_time_created"))
        batch_op.alter_column(
            "message_id",
            existing_type=sa.String(length=64),
            existing_nullable=True,
            comment=MESSAGE_ID_COMMENT,
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column(
            "message_id",
            existing_type=sa.String(length=64),
            existing_nullable=True,
            comment=OLD_MESSAGE_ID_COMMENT,
        )
        batch_op.create_index(
            batch_op.f("ix_outbox_application_time_created"),
            ["application", "time_created"],
            unique=False,
        )
