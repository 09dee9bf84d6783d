"""The stored history of a message, read for a trace: the message, its parts (each with the
state its receipt gave it), and the status deliveries (webhook and SMPP) made for it; of an
incoming message, the message (with how it was routed) and its deliveries."""

from sqlalchemy import Connection, Row, select

from gatewayd.storage.tables import incoming_messages, message_parts, messages, outbox


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


def status_jobs_for(connection: Connection, message: Row) -> list[Row]:
    """Outbox jobs (webhook and SMPP) carrying a status of `message`, in the order made."""
    return _jobs_carrying(connection, message.id, "status")


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
    """Outbox jobs (webhook and SMPP) carrying `incoming`."""
    return _jobs_carrying(connection, incoming.id, "incoming")


def _jobs_carrying(connection: Connection, message_id: str, kind: str) -> list[Row]:
    query = (
        select(outbox)
        .where(outbox.c.message_id == message_id, outbox.c.kind == kind)
        .order_by(outbox.c.time_created, outbox.c.id)
    )
    return connection.execute(query).all()
