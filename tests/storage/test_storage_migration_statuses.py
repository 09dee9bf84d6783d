"""Migration 0002 on a database written at revision 0001: old StatusCodes, 32-hex ids
and records waiting to be handed out, read back through the API afterwards."""

import os
from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, select, text

from gatewayd.config.schema import DatabaseConfig
from gatewayd.core.statuses import Status
from gatewayd.storage.engine import open_engine
from gatewayd.storage.migrate import upgrade
from gatewayd.storage.tables import (
    incoming_messages,
    message_parts,
    messages,
    metadata,
    outbox,
    poll_queue,
)
from gatewayd.storage.trace import incoming_jobs_for, status_jobs_for
from tests.gateway import KEY

OLD_CODES = {
    "QUEUED": 100,
    "SCHEDULED": 101,
    "SUBMITTED": 110,
    "DELIVERED": 200,
    "UNKNOWN": 300,
    "UNDELIVERABLE": 400,
    "EXPIRED": 401,
    "REJECTED": 402,
    "BLACKLISTED": 403,
    "DROPPED": 404,
    "CANCELLED": 405,
}
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=300)


def old_id(n: int) -> str:
    """An id as gatewayd issued them before GUIDs: 12 hex of milliseconds, 20 random."""
    return f"{int(NOW.timestamp() * 1000) + n:012x}{os.urandom(10).hex()}"


def dashed(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"


def message_row(message_id: str, name: str, sandbox: bool = False) -> dict:
    return {
        "id": message_id,
        "account": "acme",
        "application": "shop",
        "sandbox": sandbox,
        "reference": f"ref-{name.lower()}",
        "recipient": "32470000001",
        "sender": "8686",
        "body": f"was {name}",
        "encoding": "TEXT",
        "number_of_parts": 1,
        "number_of_chars": 10,
        "concat_ref": 1,
        "replace_if_present": False,
        "status": OLD_CODES[name],
        "status_description": name.capitalize(),
        "front_door": "http",
        "time_created": NOW,
        "time_scheduled": LATER if name == "SCHEDULED" else None,
        "time_submitted": NOW if name not in ("QUEUED", "SCHEDULED", "CANCELLED") else None,
        "validity_until": LATER + timedelta(days=2),
        "next_attempt_at": LATER if name in ("QUEUED", "SCHEDULED") else None,
        "attempts": 0,
    }


def old_record(message_id: str, code: int) -> dict:
    return {
        "MessageId": message_id,
        "Reference": "ref",
        "StatusCode": code,
        "StatusDescription": "Submitted",
        "TimeScheduled": None,
        "TimeSubmitted": "2026/11/30 10:00:00",
        "DeliveryTime": None,
        "To": "32470000001",
    }


def write_revision_0001(database_url: str) -> dict[str, str]:
    """A database at 0001 with a message in every old status; their ids by status name."""
    engine = open_engine(DatabaseConfig(url=database_url))
    metadata.drop_all(engine)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
    upgrade(engine, "0001")
    ids = {name: old_id(n) for n, name in enumerate(OLD_CODES)}
    sandboxed, incoming = old_id(99), old_id(50)
    with engine.begin() as connection:
        rows = [message_row(ids[name], name) for name in OLD_CODES]
        connection.execute(insert(messages), [*rows, message_row(sandboxed, "SUBMITTED", True)])
        connection.execute(
            insert(message_parts).values(
                message_id=ids["SUBMITTED"],
                part_no=1,
                carrier="sim",
                carrier_message_id="c-1",
                carrier_id_key="c-1",
                state="submitted",
                time_submitted=NOW,
            )
        )
        connection.execute(
            insert(incoming_messages).values(
                id=incoming,
                application="shop",
                sender="32470000001",
                recipient="8686",
                body="hi",
                time_received=NOW,
            )
        )
        for message_id, fetched in [
            (ids["SUBMITTED"], None),
            (sandboxed, None),
            (ids["DELIVERED"], NOW),
        ]:
            connection.execute(
                insert(poll_queue).values(
                    application="shop",
                    kind="status",
                    record=old_record(message_id, 110),
                    time_created=NOW,
                    time_fetched=fetched,
                )
            )
        connection.execute(
            insert(poll_queue).values(
                application="shop",
                kind="incoming",
                record={
                    "MessageId": incoming,
                    "From": "32470000001",
                    "To": "8686",
                    "Message": "hi",
                    "TimeReceived": "2026/11/30 10:00:00",
                },
                time_created=NOW,
            )
        )
        connection.execute(
            insert(outbox).values(
                channel="webhook",
                application="shop",
                kind="status",
                url="http://127.0.0.1:9/",
                method="POST",
                format="JSON",
                record=old_record(ids["REJECTED"], 402),
                state="pending",
                attempts=3,
                time_created=NOW,
                next_attempt_at=LATER,
            )
        )
        connection.execute(
            insert(outbox).values(
                channel="smpp",
                application="shop",
                kind="incoming",
                record={"MessageId": incoming, "From": "32470000001", "To": "8686"},
                state="pending",
                attempts=1,
                time_created=NOW,
                next_attempt_at=LATER,
            )
        )
    upgrade(engine)
    engine.dispose()
    return {**ids, "sandboxed": sandboxed, "incoming": incoming}


def test_the_upgraded_database_has_the_new_codes_guids_and_the_schema_of_the_code(database_url):
    ids = write_revision_0001(database_url)
    engine = open_engine(DatabaseConfig(url=database_url))
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
        stored = dict(connection.execute(select(messages.c.id, messages.c.status)).all())
        part = connection.execute(select(message_parts.c.message_id)).scalar_one()
        incoming = connection.execute(select(incoming_messages.c.id)).scalar_one()
        polls = connection.execute(
            select(poll_queue.c.sandbox, poll_queue.c.record, poll_queue.c.time_fetched).order_by(
                poll_queue.c.id
            )
        ).all()
        status_job, incoming_job = connection.execute(select(outbox).order_by(outbox.c.id)).all()
        rejected = connection.execute(
            select(messages).where(messages.c.id == dashed(ids["REJECTED"]))
        ).one()
        incoming_row = connection.execute(select(incoming_messages)).one()
        traced = [job.id for job in status_jobs_for(connection, rejected)]
        traced += [job.id for job in incoming_jobs_for(connection, incoming_row)]
    engine.dispose()
    job = status_job.record
    assert {stored[dashed(ids[name])] for name in OLD_CODES} == {int(s) for s in Status}
    assert all(stored[dashed(ids[name])] == Status[name] for name in OLD_CODES)
    assert part == dashed(ids["SUBMITTED"]) and incoming == dashed(ids["incoming"])
    waiting_live, waiting_sandbox, fetched, waiting_incoming = polls
    assert not waiting_incoming.sandbox
    assert waiting_live.record["MessageId"] == dashed(ids["SUBMITTED"]) and not waiting_live.sandbox
    assert waiting_live.record["StatusCode"] == Status.SUBMITTED.code
    assert waiting_live.record["TimeSubmitted"] == "2026-11-30 10:00:00"
    assert waiting_sandbox.sandbox and waiting_sandbox.record["MessageId"] == dashed(
        ids["sandboxed"]
    )
    assert fetched.record["StatusCode"] == 110, "a record already handed out is history"
    assert job["StatusCode"] == Status.REJECTED.code and job["MessageId"] == dashed(ids["REJECTED"])
    assert status_job.message_id == dashed(ids["REJECTED"]), "named by the record it carries"
    assert incoming_job.message_id == dashed(ids["incoming"])
    assert traced == [status_job.id, incoming_job.id], "the trace finds both by their message"


async def test_messages_stored_before_are_read_through_the_api_by_either_id_form(
    database_url, gateway_factory
):
    ids = write_revision_0001(database_url)
    gateway = await gateway_factory()
    for name in OLD_CODES:
        for given in (ids[name], ids[name].upper(), dashed(ids[name]).upper()):
            status = await gateway.status_of(given)
            assert status["MessageId"] == dashed(ids[name]), given
            assert status["StatusCode"] == Status[name].code
            assert status["StatusDescription"] == Status[name].description
    cancelled = await gateway.client.post(
        "/sms/v1/Cancel", json={"apiKey": KEY, "messageId": ids["SCHEDULED"]}
    )
    assert cancelled.json()["ResultCode"] == 0
    assert cancelled.json()["MessageId"] == dashed(ids["SCHEDULED"])

    live = (await gateway.client.post("/sms/v1/Status", json={"apiKey": KEY})).json()
    sandbox = (await gateway.client.post("/sms/sandbox/Status", json={"apiKey": KEY})).json()
    assert [(r["MessageId"], r["StatusCode"]) for r in live["StatusMessages"]] == [
        (dashed(ids["SUBMITTED"]), Status.SUBMITTED.code),
        (dashed(ids["SCHEDULED"]), Status.CANCELLED.code),
    ]
    assert [r["MessageId"] for r in sandbox["StatusMessages"]] == [dashed(ids["sandboxed"])]
    incoming = (await gateway.client.post("/sms/v1/Incoming", json={"apiKey": KEY})).json()
    assert [(r["MessageId"], r["TimeReceived"]) for r in incoming["IncomingMessages"]] == [
        (dashed(ids["incoming"]), "2026-11-30 10:00:00")
    ]
