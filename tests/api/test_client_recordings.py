"""Every recorded request of every official RingRing client (tests/api/client_recordings),
replayed byte for byte against the gateway, gets the answer that client expects: read the
way that client reads it (tests/api/client_views.py), with RingRing's documented codes
(SPEC §3: ResultCode 0-37, HTTP 200/400/403/500, StatusCode ranges, GUID MessageIds)."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import trio

from gatewayd.core.events import status_events
from gatewayd.core.statuses import Status
from gatewayd.storage import messages as message_store
from tests.api.client_views import (
    BARE_CONTINUE,
    GUID,
    reads,
    recorded_calls,
    recorded_fields,
    recording,
    replay,
)

CLIENTS = ["php", "node", "java", "csharp"]
RINGRING_HTTP_STATUSES = {200, 400, 403, 500}
INVALID_API_KEY = {12, 14}
MESSAGE_ID_NOT_FOUND = 29
MESSAGE_TOO_LONG = 8
POLLED_ID = "707d5ca2-bb5e-576f-a831-41388eb4010f"  # the recorder's first MessageId
# RingRing's webhook article (its current version) gives times as yyyy-MM-dd HH:mm:ss.
TIME = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"
MODEL_OF_CALL = {
    "send": "message",
    "scheduled_send": "message",
    "sandbox_send": "message",
    "send_many": "message",
    "wrong_key": "message",
    "cancel": "cancel",
    "status_message": "status_message",
    "sandbox_status_message": "status_message",
    "status": "status",
    "incoming": "incoming",
}
CASES = [
    pytest.param(client, call, id=f"{client}-{call}")
    for client in CLIENTS
    for call in recorded_calls(client)
    if call in MODEL_OF_CALL
]


def test_every_recording_is_replayed():
    assert {"send", "status_message", "cancel", "sandbox_send", "wrong_key"} <= set(
        recorded_calls("node")
    )
    for client in CLIENTS:
        assert set(recorded_calls(client)) - {"send_large"} <= set(MODEL_OF_CALL), client


@pytest.mark.parametrize("client", CLIENTS)
def test_the_recordings_are_whole_requests_with_their_crlfs(client):
    for call in recorded_calls(client):
        raw = recording(client, call)
        head, separator, body = raw.partition(b"\r\n\r\n")
        assert separator and b"\n" not in head.replace(b"\r\n", b""), f"{client}/{call}"
        length = re.search(rb"\r\ncontent-length: *(\d+)", head.lower())
        assert len(body) == (int(length[1]) if length else 0), f"{client}/{call}"


def message_row(message_id: str, status: Status, *, sandbox: bool = False) -> dict:
    """A stored message as the submitter writes it, with the MessageId a recording names."""
    now = datetime.now(UTC)
    scheduled = now + timedelta(days=1) if status is Status.SCHEDULED else None
    done = now if status.final else None
    return {
        "id": message_id,
        "account": "acme",
        "application": "shop",
        "sandbox": sandbox,
        "reference": "recorded",
        "recipient": "32470000001",
        "sender": "8686",
        "country": "BE",
        "body": "Hello",
        "encoding": "TEXT",
        "number_of_parts": 1,
        "number_of_chars": 5,
        "concat_ref": 7,
        "replace_if_present": False,
        "status": int(status),
        "status_description": status.description,
        "front_door": "http",
        "time_created": now - timedelta(minutes=1),
        "time_scheduled": scheduled,
        "time_submitted": done,
        "time_done": done,
        "validity_until": now + timedelta(days=3),
        "next_attempt_at": scheduled,
        "attempts": 0,
    }


async def store(gateway, row: dict) -> None:
    """Insert `row` and its status events (a Status poll record) with the storage layer."""
    app = gateway.runtime.holder.current.directory.by_name["shop"]
    poll, jobs = status_events(row, app, datetime.now(UTC))

    def write() -> None:
        with gateway.runtime.engine.begin() as connection:
            message_store.insert_messages(connection, [row])
            message_store.add_events(connection, poll, jobs)

    await trio.to_thread.run_sync(write)


async def prepare(gateway, call: str, raw: bytes) -> None:
    """What the recorded call refers to, stored first so that the replay stays verbatim."""
    named = recorded_fields(raw).get("messageid")
    if call == "cancel":
        await store(gateway, message_row(named, Status.SCHEDULED))
    elif call in ("status_message", "sandbox_status_message"):
        await store(gateway, message_row(named, Status.DELIVERED))
    elif call == "status":
        await store(gateway, message_row(POLLED_ID, Status.DELIVERED))
    elif call == "incoming":
        await gateway.simulator.inject_mo("32470000001", "8686", b"Hi from a handset")


def sent_ids(answer: dict, count: int) -> list[str]:
    assert answer["ResultCode"] == 0, answer
    assert answer["MessageCount"] == count and len(answer["Messages"]) == count
    assert all(entry["ResultCode"] == 0 for entry in answer["Messages"])
    return [entry["MessageId"] for entry in answer["Messages"]]


def assert_ringring_wire(status: int, answer: dict) -> None:
    """Checked last, so that what the other checks say shows first: SPEC §3's HTTP statuses
    and GUID MessageIds (Java's UUID parser wants exactly 8-4-4-4-12)."""
    assert status in RINGRING_HTTP_STATUSES, f"HTTP {status} is not RingRing's"
    records = [answer, *(answer.get("Messages") or []), *(answer.get("StatusMessages") or [])]
    ids = [record["MessageId"] for record in records if record.get("MessageId")]
    assert all(GUID.match(i) for i in ids), f"MessageIds are not GUIDs: {ids[:3]}"


def assert_delivered(record: dict, message_id: str) -> None:
    assert record["MessageId"] == message_id
    assert 200 <= int(record["StatusCode"]) <= 201, "RingRing's delivered is 200-201"
    for name in ("TimeSubmitted", "DeliveryTime"):
        assert matches(TIME, record[name]), f"{name}={record[name]!r}"


def matches(pattern: str, value: object) -> bool:
    return isinstance(value, str) and re.match(pattern, value) is not None


async def check_answer(gateway, client: str, call: str, raw: bytes, answer: dict) -> None:
    """RingRing's answer to `call`, as the client decoded it."""
    fields = recorded_fields(raw)
    if call in ("send", "sandbox_send", "send_many"):
        count = len(fields["to"].split(","))
        ids = sent_ids(answer, count)
        stored = await gateway.status_of(ids[0]) if call != "sandbox_send" else None
        assert stored is None or stored["ResultCode"] == 0
    elif call == "scheduled_send":
        [message_id] = sent_ids(answer, 1)
        status = await gateway.status_of(message_id)
        assert int(status["StatusCode"]) == 0, "RingRing's scheduled is StatusCode 0"
    elif call == "wrong_key":
        assert answer["ResultCode"] in INVALID_API_KEY, answer
        assert not answer.get("Messages")
    elif call == "cancel":
        assert answer["ResultCode"] == 0 and answer["MessageId"] == fields["messageid"], answer
        assert (await gateway.status_of(fields["messageid"]))["StatusDescription"] == (
            Status.CANCELLED.description
        )
    elif call == "status_message":
        assert answer["ResultCode"] == 0, answer
        assert_delivered(answer, fields["messageid"])
    elif call == "sandbox_status_message":
        assert answer["ResultCode"] == MESSAGE_ID_NOT_FOUND, "a live message is not sandbox's"
    elif call == "status":
        assert answer["ResultCode"] == 0 and answer["NumberOfRecords"] >= 1, answer
        assert isinstance(answer["RemainingRecords"], int)
        assert_delivered(answer["StatusMessages"][0], POLLED_ID)
    elif call == "incoming":
        assert answer["ResultCode"] == 0 and answer["NumberOfRecords"] == 1, answer
        record = answer["IncomingMessages"][0]
        assert (record["From"], record["To"], record["Message"]) == (
            "32470000001",
            "8686",
            "Hi from a handset",
        )
        assert matches(TIME, record["TimeReceived"]), record["TimeReceived"]


@pytest.mark.parametrize(("client", "call"), CASES)
async def test_a_recorded_call_gets_the_answer_its_client_expects(gateway, client, call):
    raw = recording(client, call)
    await prepare(gateway, call, raw)
    answer = await replay(gateway_port(gateway), raw)
    if answer.interim is not None:
        assert answer.interim == BARE_CONTINUE
    decoded = reads(client, answer, MODEL_OF_CALL[call])
    await check_answer(gateway, client, call, raw, decoded)
    assert_ringring_wire(answer.status, decoded)


def gateway_port(gateway) -> int:
    return gateway.client.base_url.port


async def test_the_php_clients_large_send_gets_the_bare_100_continue_then_its_answer(
    gateway_factory,
):
    raw = recording("php", "send_large")
    assert b"\r\nExpect: 100-continue\r\n" in raw and len(raw) > 1_048_576
    gateway = await gateway_factory(
        accounts_patch=lambda text: text.replace("max_body_bytes: 65536", "max_body_bytes: 2097152")
    )
    answer = await replay(gateway_port(gateway), raw)
    assert answer.interim == BARE_CONTINUE
    decoded = php_answer(answer)
    assert decoded["ResultCode"] == MESSAGE_TOO_LONG, decoded
    assert_ringring_wire(answer.status, decoded)


async def test_the_php_clients_large_send_over_the_body_limit_is_refused_before_100(gateway):
    answer = await replay(gateway_port(gateway), recording("php", "send_large"))
    assert answer.interim is None, "refused on its Content-Length, before the body is asked for"
    decoded = php_answer(answer)
    assert isinstance(decoded["ResultCode"], int) and 1 <= decoded["ResultCode"] <= 37, decoded
    assert_ringring_wire(answer.status, decoded)


def php_answer(answer) -> dict:
    return reads("php", answer, "message")


async def test_a_recorded_send_is_stored_as_the_client_sent_it(gateway):
    raw = recording("csharp", "send")
    answer = reads("csharp", await replay(gateway_port(gateway), raw), "message")
    [message_id] = sent_ids(answer, 1)
    status = await gateway.status_of(message_id)
    assert (status["To"], status["Message"], status["Reference"]) == (
        "32470000001",
        "Hello from the RingRing C# client",
        "cs-send",
    )
