"""Idempotency-Key on POST /sms/v1/Message: a client's retry returns the first answer and
creates no second SMS, on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta

import trio
from sqlalchemy import func, select

from gatewayd.core.idempotency_sweep import IdempotencyKeySweep
from gatewayd.core.result_codes import Result
from gatewayd.storage.tables import idempotency_keys, messages
from tests.gateway import KEY, OTHER_KEY

TO = "32470000001"


async def _post(gateway, key: str | None, api_key: str = KEY, path="/sms/v1/Message", **fields):
    headers = {"Idempotency-Key": key} if key is not None else {}
    body = {"apiKey": api_key, "to": TO, "message": "once only", **fields}
    return await gateway.client.post(path, json=body, headers=headers)


def _stored(gateway) -> int:
    with gateway.runtime.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(messages)).scalar_one()


async def _submitted_once(gateway) -> None:
    await gateway.wait_until(lambda: len(gateway.simulator.submitted) >= 1)
    with trio.move_on_after(0.5):
        await gateway.wait_until(lambda: len(gateway.simulator.submitted) > 1)
    assert len(gateway.simulator.submitted) == 1


async def test_a_retry_with_the_same_key_gets_the_first_answer_and_no_second_sms(gateway):
    first = await _post(gateway, "order-42-attempt")
    again = await _post(gateway, "order-42-attempt")

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert _stored(gateway) == 1
    await _submitted_once(gateway)


async def test_the_same_key_with_another_request_is_refused_and_stores_nothing(gateway):
    await _post(gateway, "k-1")
    other = await _post(gateway, "k-1", message="something else")

    assert other.status_code == 400 and other.json()["ResultCode"] == 13
    assert other.json()["ResultCode"] == int(Result.IDEMPOTENCY_KEY_REUSED)
    assert "Idempotency-Key" in other.json()["ResultDescription"]
    sandbox = await _post(gateway, "k-1", path="/sms/sandbox/Message")
    assert sandbox.status_code == 400, "the sandbox is another request"
    assert _stored(gateway) == 1


async def test_keys_belong_to_one_application(gateway):
    mine = await _post(gateway, "shared-key")
    theirs = await _post(gateway, "shared-key", api_key=OTHER_KEY)
    assert mine.status_code == theirs.status_code == 200
    assert mine.json()["Messages"][0]["MessageId"] != theirs.json()["Messages"][0]["MessageId"]
    assert _stored(gateway) == 2


async def test_requests_without_a_key_are_not_deduplicated(gateway):
    await _post(gateway, None)
    await _post(gateway, None)
    assert _stored(gateway) == 2


async def test_a_key_is_forgotten_after_its_window(gateway):
    start = datetime.now(UTC)
    gateway.runtime.clock.set(start)
    first = await _post(gateway, "daily")
    gateway.runtime.clock.set(start + timedelta(hours=23, minutes=59))
    assert (await _post(gateway, "daily")).json() == first.json()
    gateway.runtime.clock.set(start + timedelta(hours=24, minutes=1))
    later = await _post(gateway, "daily", message="a new day")

    assert later.status_code == 200 and "Idempotent-Replayed" not in later.headers
    assert _stored(gateway) == 2
    with gateway.runtime.engine.connect() as connection:
        keys = connection.execute(select(idempotency_keys.c.time_created)).scalars().all()
    assert keys == [start + timedelta(hours=24, minutes=1)], "the old row was replaced"


async def test_a_malformed_key_is_refused_and_stores_nothing(gateway):
    for key in ("", "x" * 256, "tab\there"):
        answer = await _post(gateway, key)
        assert answer.status_code == 400, key
        assert answer.json()["ResultCode"] == int(Result.INVALID_FIELD)
    quoted = await _post(gateway, '"draft-style"')
    assert quoted.status_code == 200
    assert (await _post(gateway, "draft-style")).headers["Idempotent-Replayed"] == "true"
    assert _stored(gateway) == 1


async def test_a_request_without_a_stored_message_is_not_remembered(gateway):
    refused = await _post(gateway, "bad-then-good", to="not-a-number")
    assert refused.status_code == 400
    fixed = await _post(gateway, "bad-then-good", to="not-a-number")
    assert fixed.status_code == 400 and "Idempotent-Replayed" not in fixed.headers
    assert _stored(gateway) == 0


async def test_concurrent_requests_with_one_key_create_one_sms(gateway):
    answers = []

    async def send():
        answers.append(await _post(gateway, "twice-at-once"))

    async with trio.open_nursery() as nursery:
        for _ in range(8):
            nursery.start_soon(send)

    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.json()["Messages"][0]["MessageId"] for answer in answers}) == 1
    assert _stored(gateway) == 1


async def test_a_retry_after_the_answer_was_lost_creates_no_second_sms(gateway):
    """The client sends, closes its connection without reading the answer, and retries."""
    port = int(str(gateway.client.base_url).rsplit(":", 1)[1].strip("/"))
    body = f'{{"apiKey": "{KEY}", "to": "{TO}", "message": "once only"}}'.encode()
    head = (
        "POST /sms/v1/Message HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nIdempotency-Key: lost-answer\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(head + body)
    await stream.aclose()
    await gateway.wait_until(lambda: _stored(gateway) == 1)

    retry = await _post(gateway, "lost-answer")

    assert retry.status_code == 200 and retry.headers["Idempotent-Replayed"] == "true"
    with gateway.runtime.engine.connect() as connection:
        stored_id = connection.execute(select(messages.c.id)).scalar_one()
    assert retry.json()["Messages"][0]["MessageId"] == stored_id
    await _submitted_once(gateway)


async def test_keys_past_their_window_are_swept_a_batch_at_a_time(gateway):
    start = datetime.now(UTC)
    gateway.runtime.clock.set(start)
    for n in range(3):
        await _post(gateway, f"old-{n}", to=f"3247000001{n}")
    gateway.runtime.clock.set(start + timedelta(hours=12))
    await _post(gateway, "recent", to="32470000020")
    gateway.runtime.clock.set(start + timedelta(hours=24, seconds=1))
    runtime = gateway.runtime
    sweep = IdempotencyKeySweep(runtime.holder, runtime.writer, runtime.clock)

    assert await sweep.sweep() == 3
    assert await sweep.sweep() == 0
    with gateway.runtime.engine.connect() as connection:
        assert connection.execute(select(idempotency_keys.c.key)).scalars().all() == ["recent"]
    assert _stored(gateway) == 4, "the messages stay"
