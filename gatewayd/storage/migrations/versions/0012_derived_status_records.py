"""status records derived from the message row: a status poll record or outbox job keeps
the message id and what changed (its status, description and when it was reached); the
rest of the record is read from the message when it is handed out. Rows stored before
keep their whole record. A downgrade deletes the rows that have none.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

from gatewayd.storage.types import UtcDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

RECORD_COMMENT = "null: a status record derived from its message"
EVENT_COLUMNS = ("status", "status_description", "status_time")


def _event_columns() -> list[sa.Column]:
    return [
        sa.Column("status", sa.SmallInteger(), nullable=True, comment="the status carried"),
        sa.Column("status_description", sa.String(length=255), nullable=True),
        sa.Column("status_time", UtcDateTime(), nullable=True, comment="when it was reached"),
    ]


def upgrade() -> None:
    with op.batch_alter_table("poll_queue", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_id", sa.String(length=36), nullable=True))
        for column in _event_columns():
            batch_op.add_column(column)
        batch_op.alter_column(
            "record", existing_type=sa.JSON(), nullable=True, comment=RECORD_COMMENT
        )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        for column in _event_columns():
            batch_op.add_column(column)
        batch_op.alter_column(
            "record", existing_type=sa.JSON(), nullable=True, comment=RECORD_COMMENT
        )


def downgrade() -> None:
    for table in ("outbox", "poll_queue"):
        op.execute(sa.text(f"DELETE FROM {table} WHERE record IS NULL"))
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("record", existing_type=sa.JSON(), nullable=False, comment=None)
        for column in reversed(EVENT_COLUMNS):
            batch_op.drop_column(column)
    with op.batch_alter_table("poll_queue", schema=None) as batch_op:
        batch_op.alter_column("record", existing_type=sa.JSON(), nullable=False, comment=None)
        for column in (*reversed(EVENT_COLUMNS), "message_id"):
            batch_op.drop_column(column)
