"""RingRing's StatusCodes, GUID MessageIds, sandbox polling apart from live polling

Stored statuses move to RingRing's ranges; ids stored as 32 hex digits get their dashes
(8-4-4-4-12, the form every answer shows); records not yet handed out (poll_queue rows not
fetched, pending outbox rows) get the new StatusCode (a string, as RingRing sends it), ids and
times ('yyyy-MM-dd HH:mm:ss'); poll rows get a sandbox flag, taken from their message.

Revision ID: 0002
Revises: 0001
"""

import re
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OLD_TO_NEW_STATUS = {
    100: 10,  # Queued
    101: 0,  # Scheduled
    110: 100,  # Submitted
    200: 200,  # Delivered
    300: 400,  # Unknown
    400: 300,  # Undeliverable
    401: 301,  # Expired
    402: 302,  # Rejected
    403: 801,  # Blacklisted
    404: 802,  # Dropped
    405: 803,  # Cancelled
}
TIME_FIELDS = ("TimeScheduled", "TimeSubmitted", "DeliveryTime", "TimeReceived")
_OLD_TIME = re.compile(r"(\d{4})/(\d{2})/(\d{2}) ")
_HEX32 = re.compile(r"[0-9a-fA-F]{32}")
FK_PARTS = "fk_message_parts_message_id_messages"

poll_queue = sa.table(
    "poll_queue",
    sa.column("id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("sandbox", sa.Boolean),
    sa.column("record", sa.JSON),
    sa.column("time_fetched", sa.DateTime),
)
outbox = sa.table(
    "outbox",
    sa.column("id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("state", sa.String),
    sa.column("record", sa.JSON),
)
messages = sa.table("messages", sa.column("id", sa.String), sa.column("sandbox", sa.Boolean))


def upgrade() -> None:
    with op.batch_alter_table("message_parts") as batch:
        batch.drop_constraint(FK_PARTS, type_="foreignkey")
        batch.alter_column("message_id", type_=sa.String(36), existing_nullable=False)
    with op.batch_alter_table("messages") as batch:
        batch.alter_column("id", type_=sa.String(36), existing_nullable=False)
        batch.create_index(
            batch.f("ix_messages_application_recipient_time_created"),
            ["application", "recipient", "time_created"],
        )
    with op.batch_alter_table("incoming_messages") as batch:
        batch.alter_column("id", type_=sa.String(36), existing_nullable=False)
    _dash_ids("messages", "id")
    _dash_ids("message_parts", "message_id")
    _dash_ids("incoming_messages", "id")
    with op.batch_alter_table("message_parts") as batch:
        batch.create_foreign_key(FK_PARTS, "messages", ["message_id"], ["id"])

    status = sa.column("status", sa.SmallInteger)
    op.execute(
        sa.table("messages", status)
        .update()
        .values(status=sa.case(OLD_TO_NEW_STATUS, value=status, else_=status))
    )

    with op.batch_alter_table("poll_queue") as batch:
        batch.add_column(
            sa.Column(
                "sandbox",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
                comment="handed out by /sms/sandbox/ polling",
            )
        )
        batch.drop_index("ix_poll_queue_application_kind_time_fetched_id")
        batch.create_index(
            batch.f("ix_poll_queue_application_kind_sandbox_time_fetched_id"),
            ["application", "kind", "sandbox", "time_fetched", "id"],
        )
    _rewrite_waiting_records()
    with op.batch_alter_table("poll_queue") as batch:
        batch.alter_column("sandbox", server_default=None, existing_type=sa.Boolean())


def downgrade() -> None:
    raise RuntimeError(
        "0002 is one-way: the old StatusCodes and 32-digit ids are not restored; "
        "go back by restoring a backup taken before the upgrade"
    )


def _dash_ids(table: str, column: str) -> None:
    """32 hex digits -> 8-4-4-4-12, lower case (SQL both databases speak)."""
    c = column
    op.execute(
        f"UPDATE {table} SET {c} = lower(substr({c}, 1, 8) || '-' || substr({c}, 9, 4) || '-'"
        f" || substr({c}, 13, 4) || '-' || substr({c}, 17, 4) || '-' || substr({c}, 21, 12))"
        f" WHERE length({c}) = 32"
    )


def _rewrite_waiting_records() -> None:
    connection = op.get_bind()
    waiting_polls = connection.execute(
        sa.select(poll_queue.c.id, poll_queue.c.kind, poll_queue.c.record).where(
            poll_queue.c.time_fetched.is_(None)
        )
    ).all()
    for chunk in _chunks(waiting_polls, 500):
        ids = [row.record.get("MessageId") for row in chunk if row.kind == "status"]
        sandboxed = set(
            connection.execute(
                sa.select(messages.c.id).where(
                    messages.c.id.in_({_dashed(i) for i in ids if isinstance(i, str)}),
                    messages.c.sandbox.is_(True),
                )
            ).scalars()
        )
        for row in chunk:
            record = _rewritten(row.kind, row.record)
            connection.execute(
                poll_queue.update()
                .where(poll_queue.c.id == row.id)
                .values(record=record, sandbox=record.get("MessageId") in sandboxed)
            )
    pending_jobs = connection.execute(
        sa.select(outbox.c.id, outbox.c.kind, outbox.c.record).where(outbox.c.state == "pending")
    ).all()
    for row in pending_jobs:
        connection.execute(
            outbox.update()
            .where(outbox.c.id == row.id)
            .values(record=_rewritten(row.kind, row.record))
        )


def _rewritten(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    record = dict(record)
    if isinstance(record.get("MessageId"), str):
        record["MessageId"] = _dashed(record["MessageId"])
    if kind == "status" and record.get("StatusCode") is not None:
        old = int(record["StatusCode"])
        record["StatusCode"] = str(OLD_TO_NEW_STATUS.get(old, old))
    for field in TIME_FIELDS:
        if isinstance(record.get(field), str):
            record[field] = _OLD_TIME.sub(r"\1-\2-\3 ", record[field])
    return record


def _dashed(message_id: str) -> str:
    if not _HEX32.fullmatch(message_id):
        return message_id
    m = message_id.lower()
    return f"{m[:8]}-{m[8:12]}-{m[12:16]}-{m[16:20]}-{m[20:]}"


def _chunks(rows: list, size: int) -> Iterator[list]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
