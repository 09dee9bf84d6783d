"""The stored history of a message, read for a trace: the message, its parts (each with the
state its receipt gave it), and the status deliveries (webhook and SMPP) made for it; of an
incoming message, the message (with how it was routed) and its deliveries."""

from datetime import datetime, timedelta

from sqlalchemy import Connection, Row, select

from gatewayd.storage.tables import incoming_messages, message_parts, messages, outbox

# Status events are made in the same transaction as the status; the slack covers the clock
# of another node.
EVENT_SLACK = timedelta(minutes=1)


def find_messages(
    connection: Connection,
    message_id: str | None = None,
    reference: str | None = None,
    recipient: str | None = None,
    limit: int = 20,
) -> list[Row]:
    """The messages with that id, reference or recipient, newest first."""
    query = select(messages)
    if message_id is not None:
        query = query.where(messages.c.id == message_id)
    if reference is not None:
        query = query.where(messages.c.reference == reference)
    if recipient is not None:
        query = query.where(messages.c.recipient == recipient)
    query = query.order_by(messages.c.time_created.desc(), messages.c.id).limit(limit)
    return connection.execute(query).all()


def parts_of(connection: Connection, message_id: str) -> list[Row]:
    query = select(message_parts).where(message_parts.c.message_id == message_id)
    return connection.execute(query.order_by(message_parts.c.part_no)).all()


def status_jobs_for(connection: Connection, message: Row, now: datetime) -> list[Row]:
    """Outbox jobs (webhook and SMPP) carrying a status of `message`: those of its application
    made during its life (an index range), picked by the MessageId they carry."""
    until = (message.time_done or now) + EVENT_SLACK
    query = (
        select(outbox)
        .where(
            outbox.c.application == message.application,
            outbox.c.time_created >= message.time_created,
            outbox.c.time_created <= until,
            outbox.c.kind == "status",
        )
        .order_by(outbox.c.time_created, outbox.c.id)
    )
    return [job for job in connection.execute(query) if _message_of(job) == message.id]


def find_incoming(
    connection: Connection,
    message_id: str | None = None,
    sender: str | None = None,
    limit: int = 20,
) -> list[Row]:
    """The incoming messages with that id or from that sender, newest first."""
    query = select(incoming_messages)
    if message_id is not None:
        query = query.where(incoming_messages.c.id == message_id)
    if sender is not None:
        query = query.where(incoming_messages.c.sender == sender)
    query = query.order_by(incoming_messages.c.time_received.desc(), incoming_messages.c.id)
    return connection.execute(query.limit(limit)).all()


def incoming_jobs_for(connection: Connection, incoming: Row) -> list[Row]:
    """Outbox jobs (webhook and SMPP) carrying `incoming`: made in its transaction, so within
    the slack of its time of receipt."""
    if incoming.application is None:
        return []
    query = (
        select(outbox)
        .where(
            outbox.c.application == incoming.application,
            outbox.c.time_created >= incoming.time_received - EVENT_SLACK,
            outbox.c.time_created <= incoming.time_received + EVENT_SLACK,
            outbox.c.kind == "incoming",
        )
        .order_by(outbox.c.time_created, outbox.c.id)
    )
    return [job for job in connection.execute(query) if job.record.get("MessageId") == incoming.id]


def _message_of(job: Row) -> str | None:
    """The message a status job carries (jobs stored before 0004 name it in the record only)."""
    return job.message_id or (job.record or {}).get("MessageId")
