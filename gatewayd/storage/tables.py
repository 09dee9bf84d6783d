"""The database tables. Alembic migrations in migrations/versions/ must produce exactly these."""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from gatewayd.storage.types import UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

AutoId = BigInteger().with_variant(Integer(), "sqlite")


def status_columns() -> list[Column]:
    """What a status record without a `record` carries; the rest is read from its message."""
    return [
        Column("status", SmallInteger, comment="the status carried"),
        Column("status_description", String(255)),
        Column("status_time", UtcDateTime, comment="when it was reached"),
    ]


messages = Table(
    "messages",
    metadata,
    Column("id", String(36), primary_key=True, comment="MessageId given to the client"),
    Column("account", String(64), nullable=False),
    Column("application", String(64), nullable=False),
    Column("sandbox", Boolean, nullable=False, default=False),
    Column("reference", String(255)),
    Column("recipient", String(15), nullable=False),
    Column("sender", String(21)),
    Column("country", String(2)),
    Column("body", Text, nullable=False),
    Column("encoding", String(8), nullable=False, comment="TEXT or UNICODE"),
    Column("number_of_parts", SmallInteger, nullable=False),
    Column("number_of_chars", Integer, nullable=False),
    Column("concat_ref", SmallInteger, nullable=False, comment="UDH/SAR reference, kept on retry"),
    Column("replace_if_present", Boolean, nullable=False, default=False),
    Column("status", SmallInteger, nullable=False),
    Column("status_description", String(255), nullable=False),
    Column("smpp_status", Integer),
    Column("carrier", String(64)),
    Column("pinned_carrier", String(64), comment="a reply to an MO: the carrier it came from"),
    Column("status_url", Text),
    Column("status_method", String(4)),
    Column("status_format", String(4)),
    Column("front_door", String(8), nullable=False, default="http"),
    Column("time_created", UtcDateTime, nullable=False),
    Column("time_scheduled", UtcDateTime),
    Column("time_submitted", UtcDateTime),
    Column("time_done", UtcDateTime, comment="DeliveryTime: when the status became final"),
    Column("validity_until", UtcDateTime, nullable=False),
    Column("next_attempt_at", UtcDateTime, comment="due time while waiting to be sent"),
    Column("attempts", SmallInteger, nullable=False, default=0),
    Column("claimed_by", String(64)),
    Column("claimed_until", UtcDateTime),
    Column(
        "priority",
        SmallInteger,
        nullable=False,
        server_default="0",
        comment="0-3: due messages of a higher one are claimed first",
    ),
    Index(None, "next_attempt_at"),
    Index(None, "application", "time_created"),
    Index(None, "recipient", "application", "time_created"),
    Index(None, "time_done"),
    Index(None, "reference"),
)

message_parts = Table(
    "message_parts",
    metadata,
    Column("message_id", String(36), ForeignKey("messages.id"), primary_key=True),
    Column("part_no", SmallInteger, primary_key=True),
    Column("carrier", String(64), nullable=False),
    Column("carrier_message_id", String(65), nullable=False),
    Column("carrier_id_key", String(65), nullable=False, comment="normalized for receipts"),
    Column("state", String(12), nullable=False, comment="submitted, delivered, failed"),
    Column("error", String(64)),
    Column("time_submitted", UtcDateTime, nullable=False),
    Column("time_done", UtcDateTime),
    Column("time_sent", UtcDateTime, comment="submit_sm written; time_submitted: its response"),
    Index(None, "carrier", "carrier_id_key"),
)

receipts = Table(
    "receipts",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("carrier", String(64), nullable=False),
    Column("carrier_message_id", String(65), nullable=False),
    Column("carrier_id_key", String(65), nullable=False),
    Column("state", String(12), nullable=False),
    Column("error", String(64)),
    Column("raw", Text),
    Column("time_received", UtcDateTime, nullable=False),
    Column("time_matched", UtcDateTime, comment="null while no submitted part matches"),
    Column("time_expired", UtcDateTime, comment="set when it stopped waiting for its part"),
    Index(None, "carrier", "carrier_id_key"),
    Index(None, "time_matched", "time_expired", "time_received"),
)

incoming_messages = Table(
    "incoming_messages",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("account", String(64)),
    Column("application", String(64), comment="null when no application owns the number"),
    Column("carrier", String(64)),
    Column("sender", String(21), nullable=False),
    Column("recipient", String(21), nullable=False),
    Column("body", Text, nullable=False),
    Column("country", String(2)),
    Column("reference", String(255)),
    Column("time_received", UtcDateTime, nullable=False),
    Column("keyword", String(32), comment="what routed it; null: the number's application"),
    Column("action", String(8), comment="stop, start or help: what the gateway did"),
    Column("reply_id", String(36), comment="the gateway's reply (confirmation, help text)"),
    Index(None, "application", "time_received"),
    Index(None, "sender", "time_received"),
    Index(None, "time_received"),
)

mo_fragments = Table(
    "mo_fragments",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("carrier", String(64), nullable=False),
    Column("sender", String(21), nullable=False),
    Column("recipient", String(21), nullable=False),
    Column("reference", Integer, nullable=False),
    Column("total", SmallInteger, nullable=False),
    Column("seq", SmallInteger, nullable=False),
    Column("data_coding", SmallInteger, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("time_received", UtcDateTime, nullable=False),
    UniqueConstraint("carrier", "sender", "recipient", "reference", "total", "seq"),
)

poll_queue = Table(
    "poll_queue",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("application", String(64), nullable=False),
    Column("kind", String(8), nullable=False, comment="status or incoming"),
    Column("sandbox", Boolean, nullable=False, comment="handed out by /sms/sandbox/ polling"),
    Column(
        "record",
        JSON(none_as_null=True),
        comment="null: a status record derived from its message",
    ),
    Column("time_created", UtcDateTime, nullable=False),
    Column("time_fetched", UtcDateTime),
    Column("message_id", String(36)),
    *status_columns(),
    Index(None, "application", "kind", "sandbox", "time_fetched", "id"),
    Index(None, "time_fetched", "time_created"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("channel", String(8), nullable=False, comment="webhook or smpp"),
    Column("application", String(64), nullable=False),
    Column("kind", String(8), nullable=False, comment="status or incoming"),
    Column(
        "message_id",
        String(64),
        comment="the message (or incoming message) a job carries; status jobs go in order",
    ),
    Column("url", Text),
    Column("method", String(4)),
    Column("format", String(4)),
    Column(
        "record",
        JSON(none_as_null=True),
        comment="null: a status record derived from its message",
    ),
    Column("state", String(10), nullable=False, comment="pending, delivered, failed"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", String(255)),
    Column("time_created", UtcDateTime, nullable=False),
    Column("next_attempt_at", UtcDateTime),
    Column("time_done", UtcDateTime),
    Column("claimed_by", String(64)),
    Column("claimed_until", UtcDateTime),
    *status_columns(),
    Index(None, "channel", "state", "next_attempt_at"),
    Index(None, "time_done"),
    Index(None, "message_id", "channel", "state"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("outbox_id", AutoId, nullable=False, comment="the outbox job; deleted with it"),
    Column("time_attempted", UtcDateTime, nullable=False),
    Column("status_code", SmallInteger, comment="the receiver's HTTP status, if it answered"),
    Column("error", String(255), comment="null when the receiver answered"),
    Column("source_address", String(45), comment="our egress address; null = the default"),
    Column("duration_ms", Integer, nullable=False),
    Index(None, "outbox_id"),
)

blacklist = Table(
    "blacklist",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("msisdn", String(15), primary_key=True),
    Column("source", String(8), nullable=False, comment="stop, admin or cli"),
    Column("note", String(255)),
    Column("time_created", UtcDateTime, nullable=False),
)

request_logs = Table(
    "request_logs",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("account", String(64), nullable=False),
    Column("application", String(64)),
    Column("time_created", UtcDateTime, nullable=False),
    Column("client_ip", String(45), nullable=False),
    Column("method", String(8), nullable=False),
    Column("path", Text, nullable=False),
    Column("status_code", SmallInteger, nullable=False),
    Column("request_body", Text, nullable=False),
    Column("response_body", Text, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Index(None, "application", "time_created"),
    Index(None, "time_created"),
)

instances = Table(
    "instances",
    metadata,
    Column("id", String(64), primary_key=True, comment="what its claims carry in claimed_by"),
    Column("node_id", String(64), nullable=False),
    Column("home", String(255), nullable=False, comment="host, boot and pid namespace"),
    Column("pid", Integer, nullable=False),
    Column("time_started", UtcDateTime, nullable=False),
    Column("lease_until", UtcDateTime, nullable=False, comment="renewed while it runs"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("application", String(64), primary_key=True),
    Column("key", String(255), primary_key=True, comment="the client's Idempotency-Key"),
    Column("fingerprint", String(64), nullable=False, comment="sha256 of the request's fields"),
    Column("status_code", SmallInteger, nullable=False),
    Column("response_body", Text, nullable=False),
    Column("time_created", UtcDateTime, nullable=False),
    Index(None, "time_created"),
)

carrier_suspensions = Table(
    "carrier_suspensions",
    metadata,
    Column("carrier", String(64), primary_key=True, comment="no new submits while listed"),
    Column("suspended_by", String(64), nullable=False, comment="the admin token's name"),
    Column("time_suspended", UtcDateTime, nullable=False),
)

maintenance_mode = Table(
    "maintenance_mode",
    metadata,
    Column("id", SmallInteger, primary_key=True, comment="always 1: present while it is on"),
    Column("set_by", String(64), nullable=False, comment="the admin token's name"),
    Column("time_set", UtcDateTime, nullable=False),
)

admin_audit = Table(
    "admin_audit",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("time_created", UtcDateTime, nullable=False),
    Column("token_name", String(64), nullable=False, comment="who: the admin token's name"),
    Column("command", String(32), nullable=False),
    Column("target", String(255), comment="the carrier, bind, message, ... it acted on"),
    Column("outcome", String(255), nullable=False),
    Index(None, "time_created"),
)

quota_counters = Table(
    "quota_counters",
    metadata,
    Column("counter", String(160), primary_key=True, comment="whose quota of what, per what"),
    Column("period", String(16), primary_key=True, comment="2026-12-07, 2026-12 or trial"),
    Column("used", BigInteger, nullable=False),
)
