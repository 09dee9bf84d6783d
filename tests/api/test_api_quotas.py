"""Trial conditions (ResultCodes 35, 36, 37) and quotas per day and month through the running
API, on both databases: the answers, what is stored and counted, the reset at a period's
boundary (on the daemon's clock), a request at a quota's edge, the admin stats, and the
e-mail and SMPP doors refusing alike."""

import smtplib
from datetime import UTC, datetime, timedelta

import pytest
import trio
from sqlalchemy import func, select

from gatewayd.protocols.smpp import codec
from gatewayd.storage.tables import messages
from tests.daemon.conftest import free_port
from tests.gateway import KEY, Gateway
from tests.smpp.test_smpp_front_door import bound_esme, with_smpp_app
from tests.smtp.test_smtp_front_door import DOMAIN, mail, send, smtp_section

ALLOWED, OTHER_ALLOWED, STRANGER = "32470000001", "32470000002", "32470000099"


def shop_settings(settings: str):
    """Add YAML lines (indented for the application) to the application shop."""
    return lambda text: text.replace("        max_parts: 3", "        max_parts: 3" + settings, 1)


def trial(until: str = "2099-01-01T00:00Z", quota: int = 3) -> str:
    return (
        f'\n        trial: {{until: "{until}", quota: {quota},'
        f' authorized_numbers: ["{ALLOWED}", "{OTHER_ALLOWED}"]}}'
    )


def stored(gateway: Gateway) -> int:
    with gateway.runtime.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(messages)).scalar_one()


async def test_a_trial_answers_36_37_and_35_as_ringring_does(gateway_factory):
    gateway = await gateway_factory(accounts_patch=shop_settings(trial()))
    first = await gateway.send(to=f"{ALLOWED},{STRANGER}", message="hello")
    assert [(m["To"], m["ResultCode"]) for m in first["Messages"]] == [
        (ALLOWED, 0),
        (STRANGER, 36),
    ]
    assert first["Messages"][1]["ResultDescription"] == "Mobile Not Authorized"
    assert first["MessageCount"] == 1

    only_stranger = await gateway.client.post(
        "/sms/v1/Message", json={"apiKey": KEY, "to": STRANGER, "message": "x"}
    )
    assert only_stranger.status_code == 400 and only_stranger.json()["ResultCode"] == 36

    assert (await gateway.send(to=f"{ALLOWED},{OTHER_ALLOWED}", message="two"))["ResultCode"] == 0
    over = await gateway.client.post(
        "/sms/v1/Message", json={"apiKey": KEY, "to": ALLOWED, "message": "fourth"}
    )
    assert over.status_code == 400
    assert (over.json()["ResultCode"], over.json()["ResultDescription"]) == (
        37,
        "Trial Quota Limit Reached: trial quota of 3 messages reached",
    )
    assert stored(gateway) == 3

    gateway.runtime.clock.set(datetime(2099, 1, 1, tzinfo=UTC))
    ended = await gateway.client.post(
        "/sms/v1/Message", json={"apiKey": KEY, "to": ALLOWED, "message": "late"}
    )
    assert ended.status_code == 400 and ended.json()["ResultCode"] == 35
    assert ended.json()["ResultDescription"] == (
        "Trial Period Expired: the trial ended 2099-01-01T00:00Z"
    )
    assert stored(gateway) == 3


async def test_a_message_scheduled_past_the_trial_end_is_refused(gateway_factory):
    gateway = await gateway_factory(accounts_patch=shop_settings(trial(until="2030-01-01T00:00Z")))
    late = await gateway.send(to=ALLOWED, message="x", timeScheduled="2030-01-01T00:00:00Z")
    assert late["ResultCode"] == 35
    soon = await gateway.send(to=ALLOWED, message="x", timeScheduled="2029-12-31T22:59:00Z")
    assert soon["ResultCode"] == 0


async def test_a_daily_quota_resets_at_local_midnight_and_says_when(gateway_factory):
    quota = "\n        quota: {parts_per_day: 4, time_zone: Europe/Brussels}"
    gateway = await gateway_factory(accounts_patch=shop_settings(quota))
    clock = gateway.runtime.clock
    clock.set(datetime(2026, 12, 7, 22, 59, tzinfo=UTC))  # 23:59 in Brussels
    two_parts = "x" * 200
    assert (await gateway.send(to=ALLOWED, message=two_parts))["ResultCode"] == 0
    assert (await gateway.send(to=ALLOWED, message=two_parts))["ResultCode"] == 0
    refused = await gateway.send(to=ALLOWED, message="one part")
    assert refused["ResultCode"] == 37
    assert refused["ResultDescription"] == (
        "Quota Limit Reached: application daily quota of 4 parts reached; "
        "resets 2026-12-08T00:00+01:00"
    )
    clock.advance(timedelta(minutes=1))  # 00:00 in Brussels: a new day
    assert (await gateway.send(to=ALLOWED, message=two_parts))["ResultCode"] == 0
    assert stored(gateway) == 3


async def test_a_monthly_account_quota_counts_every_application_and_resets_next_month(
    gateway_factory,
):
    quota = "\n    quota: {messages_per_month: 2}"
    gateway = await gateway_factory(
        accounts_patch=lambda text: text.replace(
            "    blacklist: true", "    blacklist: true" + quota, 1
        )
    )
    clock = gateway.runtime.clock
    clock.set(datetime(2026, 12, 31, 23, 0, tzinfo=UTC))
    assert (await gateway.send(to=ALLOWED, message="shop"))["ResultCode"] == 0
    other = await gateway.client.post(
        "/sms/v1/Message",
        json={"apiKey": "other-key-0123456789", "to": ALLOWED, "message": "other"},
    )
    assert other.json()["ResultCode"] == 0
    refused = await gateway.send(to=ALLOWED, message="third")
    assert refused["ResultDescription"] == (
        "Quota Limit Reached: account monthly quota of 2 messages reached; resets 2027-01-01T00:00Z"
    )
    clock.set(datetime(2027, 1, 1, tzinfo=UTC))
    assert (await gateway.send(to=ALLOWED, message="new year"))["ResultCode"] == 0


async def test_a_request_that_would_cross_the_quota_is_refused_whole(gateway_factory):
    gateway = await gateway_factory(
        accounts_patch=shop_settings("\n        quota: {messages_per_day: 5}")
    )
    gateway.runtime.clock.set(datetime(2026, 12, 7, 14, tzinfo=UTC))
    recipients = [f"3247000010{n}" for n in range(4)]
    assert (await gateway.send(to=",".join(recipients[:3]), message="x"))["MessageCount"] == 3
    crossing = await gateway.send(to=",".join(recipients), message="x")
    assert crossing["ResultCode"] == 37
    assert "daily quota of 5 messages" in crossing["ResultDescription"]
    assert stored(gateway) == 3
    exactly = await gateway.send(to=",".join(recipients[:2]), message="x")
    assert exactly["MessageCount"] == 2
    assert (await gateway.send(to=recipients[0], message="x"))["ResultCode"] == 37

    stats = (await gateway.admin.get("/admin/applications/shop/stats")).json()
    assert stats["quotas"] == [
        {
            "owner": "application",
            "name": "shop",
            "unit": "messages",
            "period": "day",
            "limit": 5,
            "used": 5,
            "remaining": 0,
            "resets": "2026-12-08T00:00Z",
        }
    ]


async def test_requests_at_once_never_take_more_than_the_quota(gateway_factory):
    """Sent together (those arriving in one tick share the writer's transaction): exactly the
    quota is accepted."""
    gateway = await gateway_factory(
        accounts_patch=shop_settings("\n        quota: {messages_per_day: 10}")
    )
    codes: list[int] = []

    async def one() -> None:
        codes.append((await gateway.send(to=ALLOWED, message="x"))["ResultCode"])

    async with trio.open_nursery() as sending:
        for _ in range(30):
            sending.start_soon(one)
    assert sorted(codes) == [0] * 10 + [37] * 20
    assert stored(gateway) == 10


async def test_the_sandbox_and_dropped_messages_neither_count_nor_are_refused(gateway_factory):
    never = '\n        time_windows: [{days: [mon], start: "00:00", end: "00:01"}]'
    gateway = await gateway_factory(
        accounts_patch=shop_settings("\n        quota: {messages_per_day: 1}" + never)
    )
    gateway.runtime.clock.set(datetime(2026, 12, 8, 12, tzinfo=UTC))  # a Tuesday: dropped
    for _ in range(2):
        assert (await gateway.send(to=ALLOWED, message="dropped"))["ResultCode"] == 0
        sandbox = await gateway.client.post(
            "/sms/sandbox/Message", json={"apiKey": KEY, "to": ALLOWED, "message": "sandbox"}
        )
        assert sandbox.json()["ResultCode"] == 0
    stats = (await gateway.admin.get("/admin/applications/shop/stats")).json()
    assert [q["remaining"] for q in stats["quotas"]] == [1]


async def test_an_idempotent_retry_after_a_quota_refusal_is_judged_again(gateway_factory):
    gateway = await gateway_factory(
        accounts_patch=shop_settings("\n        quota: {messages_per_day: 1}")
    )
    gateway.runtime.clock.set(datetime(2026, 12, 7, 23, 59, tzinfo=UTC))
    assert (await gateway.send(to=ALLOWED, message="first"))["ResultCode"] == 0
    body = {"apiKey": KEY, "to": ALLOWED, "message": "retried"}
    headers = {"Idempotency-Key": "retry-1"}
    refused = await gateway.client.post("/sms/v1/Message", json=body, headers=headers)
    assert refused.json()["ResultCode"] == 37
    gateway.runtime.clock.advance(timedelta(minutes=1))
    retried = await gateway.client.post("/sms/v1/Message", json=body, headers=headers)
    assert retried.json()["ResultCode"] == 0 and retried.json()["MessageCount"] == 1


async def test_mail_is_refused_for_the_trial_and_the_quota(gateway_factory):
    port = free_port()
    gateway = await gateway_factory(
        extra=smtp_section(port), accounts_patch=shop_settings(trial(quota=1))
    )

    async def mail_to(*numbers: str):
        recipients = [f"{number}@{DOMAIN}" for number in numbers]
        return await trio.to_thread.run_sync(
            send, port, mail(to=recipients[0]), recipients, ("shop", KEY)
        )

    assert await mail_to(ALLOWED, STRANGER) == {
        STRANGER + "@" + DOMAIN: (550, f"5.7.1 {STRANGER}: Mobile Not Authorized".encode())
    }
    with pytest.raises(smtplib.SMTPDataError) as over:
        await mail_to(ALLOWED)
    assert over.value.smtp_code == 550
    assert b"5.7.1 Trial Quota Limit Reached" in over.value.smtp_error
    gateway.runtime.clock.set(datetime(2099, 1, 1, tzinfo=UTC))
    with pytest.raises(smtplib.SMTPDataError) as ended:
        await mail_to(ALLOWED)
    assert ended.value.smtp_error.startswith(b"5.7.1 Trial Period Expired")
    assert stored(gateway) == 1


async def test_the_smpp_server_refuses_for_the_trial_and_the_quota(gateway_factory, nursery):
    def settings(text: str) -> str:
        return with_smpp_app(shop_settings(trial(quota=2))(text))

    gateway = await gateway_factory(accounts_patch=settings)
    clock = gateway.runtime.clock
    clock.set(datetime(2026, 12, 7, 12, tzinfo=UTC))
    _, client = await bound_esme(nursery, gateway.smpp_port)
    with trio.fail_after(10):
        await client.wait_healthy()

    async def submit(to: str) -> int:
        result = await client.submit(
            {"source_addr": "8686", "destination_addr": to, "short_message": b"via SMPP"}
        )
        return result.status

    assert await submit(STRANGER) == codec.ESME_RX_P_APPN  # 36
    assert await submit(ALLOWED) == codec.ESME_ROK
    clock.set(datetime(2099, 1, 1, tzinfo=UTC))
    assert await submit(ALLOWED) == codec.ESME_RX_P_APPN  # 35, with room left in the quota
    clock.set(datetime(2026, 12, 7, 12, tzinfo=UTC))
    assert await submit(ALLOWED) == codec.ESME_ROK
    assert await submit(ALLOWED) == codec.ESME_RX_P_APPN  # 37
    assert stored(gateway) == 2


async def test_a_day_quota_at_the_smpp_server_is_a_temporary_error(gateway_factory, nursery):
    def settings(text: str) -> str:
        return with_smpp_app(shop_settings("\n        quota: {messages_per_day: 1}")(text))

    gateway = await gateway_factory(accounts_patch=settings)
    _, client = await bound_esme(nursery, gateway.smpp_port)
    with trio.fail_after(10):
        await client.wait_healthy()
    statuses = [
        (
            await client.submit(
                {"source_addr": "8686", "destination_addr": ALLOWED, "short_message": b"x"}
            )
        ).status
        for _ in range(2)
    ]
    assert statuses == [codec.ESME_ROK, codec.ESME_RX_T_APPN]
