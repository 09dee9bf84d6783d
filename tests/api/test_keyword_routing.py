"""Incoming messages routed by keyword on a shared number, end to end: the simulators deliver
MOs over SMPP, a real HTTP server receives each application's incoming webhook.

Number 8686 belongs to `shop` (its default application); `promo` owns PROMO and DEALS on it,
`other` owns VOTE (and has a number of its own). The account answers HELP and INFO, opts out
on HALT or STOP and back in on RESUME only. Two simulated carriers: the route prefers `sim`,
so a reply that leaves through `sim2` does so because its incoming message came from there.
"""

import pytest
import trio

from gatewayd.core.result_codes import Result
from gatewayd.core.statuses import Status
from gatewayd.protocols.http.server import HttpServer, ServerLimits
from gatewayd.protocols.smpp import codec
from tests.api.test_settings_matrix import Receiver
from tests.gateway import KEY, OTHER_KEY, Gateway

PROMO_KEY = "promo-key-0123456789"
HELP_TEXT = "Acme: text PROMO for offers, HALT to opt out"


def keyword_config(port: int):
    def hook(application: str) -> str:
        return f'webhooks: {{incoming: {{url: "http://127.0.0.1:{port}/{application}"}}}}'

    def patch(text: str) -> str:
        text = text.replace(
            "carriers:\n",
            'routes: [{prefix: "", carriers: [sim, sim2]}]\n'
            "carriers:\n  - name: sim2\n    simulator: {receipt_delay_s: 0}\n",
            1,
        )
        text = text.replace(
            "    blacklist: true\n",
            "    blacklist: true\n"
            "    stop_words: [halt, STOP]\n"
            "    start_words: [Resume]\n"
            "    help_words: [HELP, INFO]\n"
            f'    help_reply: "{HELP_TEXT}"\n',
            1,
        )
        text = text.replace(
            "        max_parts: 3\n", f"        max_parts: 3\n        {hook('shop')}\n", 1
        )
        return text.replace(
            "        alphanumeric_sender: true\n",
            "        alphanumeric_sender: true\n"
            f"        {hook('other')}\n"
            '        keywords: [{number: "8686", words: [VOTE]}]\n'
            "      - name: promo\n"
            f'        api_keys: ["{PROMO_KEY}"]\n'
            f"        {hook('promo')}\n"
            '        keywords: [{number: "8686", words: [promo, Deals]}]\n',
            1,
        )

    return patch


@pytest.fixture
async def receiver(nursery) -> tuple[Receiver, int]:
    receiver = Receiver()
    server = HttpServer("application", ["127.0.0.1:0"], receiver.handle, ServerLimits())
    return receiver, (await nursery.start(server.run))[0][1]


@pytest.fixture
async def gateway(gateway_factory, receiver) -> Gateway:
    gateway = await gateway_factory(accounts_patch=keyword_config(receiver[1]))
    with trio.fail_after(10):
        await gateway.runtime.carriers.carriers["sim2"].wait_healthy()
    return gateway


def received(receiver: Receiver, application: str) -> list[tuple[str, str]]:
    """What reached the application's incoming webhook, by sender (not necessarily in the
    order sent: webhooks of different messages go out concurrently)."""
    return sorted((r["From"], r["Message"]) for r in receiver.of(f"/{application}"))


async def trace_from(gateway: Gateway, sender: str) -> list[dict]:
    answer = await gateway.admin.get("/admin/trace", params={"from": sender})
    assert answer.status_code == 200, answer.text
    assert answer.json()["messages"] == []
    return answer.json()["incoming"]


async def test_keywords_route_a_shared_number_and_the_rest_goes_to_its_application(
    gateway, receiver
):
    receiver = receiver[0]
    texts = {
        "32470000001": "PROMO summer",
        "32470000002": "  deals!  50% off",
        "32470000003": "Vote\nfor me",
        "32470000004": "Hello, promo please",
        "32470000005": "promotion",
    }
    for sender, text in texts.items():
        assert await gateway.simulator.inject_mo(sender, "8686", text.encode()) == codec.ESME_ROK

    def all_hooked() -> bool:
        return len(receiver.records) == len(texts)

    await gateway.wait_until(all_hooked)
    assert received(receiver, "promo") == [
        ("32470000001", "PROMO summer"),
        ("32470000002", "  deals!  50% off"),
    ]
    assert received(receiver, "other") == [("32470000003", "Vote\nfor me")]
    assert received(receiver, "shop") == [
        ("32470000004", "Hello, promo please"),
        ("32470000005", "promotion"),
    ]
    polled = await gateway.client.post("/sms/v1/Incoming", json={"apiKey": PROMO_KEY})
    assert [r["From"] for r in polled.json()["IncomingMessages"]] == ["32470000001", "32470000002"]
    polled = await gateway.client.post("/sms/v1/Incoming", json={"apiKey": OTHER_KEY})
    assert [r["To"] for r in polled.json()["IncomingMessages"]] == ["8686"]

    routes = {}
    for sender in texts:
        (trace,) = await trace_from(gateway, sender)
        events = {event["event"]: event for event in trace["events"]}
        assert events["received"]["carrier"] == "sim"
        assert [e["status_code"] for e in trace["events"] if e["event"] == "webhook"] == [200]
        routed = events["routed"]
        routes[sender] = (routed["application"], routed["by"], routed.get("keyword"))
    assert routes == {
        "32470000001": ("promo", "keyword", "PROMO"),
        "32470000002": ("promo", "keyword", "DEALS"),
        "32470000003": ("other", "keyword", "VOTE"),
        "32470000004": ("shop", "default", None),
        "32470000005": ("shop", "default", None),
    }


async def test_an_application_replies_from_the_shared_number_it_owns_a_keyword_on(gateway):
    answer = await gateway.client.post(
        "/sms/v1/Message",
        json={"apiKey": PROMO_KEY, "to": "32470000001", "from": "8686", "message": "Your code"},
    )
    assert answer.json()["Messages"][0]["ResultCode"] == 0, answer.text


async def test_help_is_answered_through_the_carrier_it_came_from(gateway, receiver):
    receiver = receiver[0]
    handset = "32470000007"
    sim2 = gateway.runtime.carriers.simulators["sim2"]
    assert await sim2.inject_mo(handset, "8686", b" help ") == codec.ESME_ROK

    def replied() -> bool:
        return any(s.fields["destination_addr"] == handset.encode() for s in sim2.submitted)

    await sim2.wait_until(replied)
    (reply,) = [s for s in sim2.submitted if s.fields["destination_addr"] == handset.encode()]
    assert reply.fields["short_message"] == HELP_TEXT.encode()
    assert reply.fields["source_addr"] == b"8686"
    assert not [
        s for s in gateway.simulator.submitted if s.fields["destination_addr"] == handset.encode()
    ]
    await gateway.wait_until(lambda: received(receiver, "shop"))
    assert received(receiver, "shop") == [(handset, " help ")], "HELP reaches the application too"

    (trace,) = await trace_from(gateway, handset)
    assert trace["incoming"]["action"] == "help"
    (help_event,) = [e for e in trace["events"] if e["event"] == "help"]
    reply_id = help_event["reply"]

    async def final() -> bool:
        return Status(int((await gateway.status_of(reply_id))["StatusCode"])).final

    await gateway.wait_until(final)
    status = await gateway.status_of(reply_id)
    assert (status["StatusCode"], status["To"], status["From"]) == ("200", handset, "8686")
    assert status["Country"] == "BE"
    sent = (await gateway.admin.get("/admin/trace", params={"id": reply_id})).json()["messages"]
    (submitted,) = [e for e in sent[0]["events"] if e["event"] == "submitted"]
    assert submitted["carrier"] == "sim2"
    assert sent[0]["message"]["reference"] == "help reply"


async def test_the_accounts_stop_words_opt_out_of_every_application(gateway):
    handset, other_number = "32470000008", "32470009999"

    async def refused(key: str) -> bool:
        answer = await gateway.client.post(
            "/sms/v1/Message", json={"apiKey": key, "to": handset, "message": "offer"}
        )
        return answer.json()["Messages"][0]["ResultCode"] == int(Result.BLACKLISTED)

    async def mo(text: bytes) -> None:
        assert await gateway.simulator.inject_mo(handset, other_number, text) == codec.ESME_ROK

    await mo(b"QUIT")  # a default word, not one of this account's
    assert not await refused(KEY)
    await mo(b" Halt ")  # to `other`'s number: every application of the account stops
    assert await refused(KEY) and await refused(PROMO_KEY) and await refused(OTHER_KEY)
    await mo(b"START")  # not this account's opt-in word
    assert await refused(KEY)
    await mo(b"resume")
    assert not await refused(KEY) and not await refused(PROMO_KEY)
    traces = await trace_from(gateway, handset)
    assert [t["incoming"]["action"] for t in reversed(traces)] == [None, "stop", None, "start"]
    assert {t["incoming"]["application"] for t in traces} == {"other"}


async def test_a_keyword_does_not_outrank_the_gateways_own_words(gateway, receiver):
    """STOP PROMO is an ordinary message for `shop` (STOP is a whole message), and the
    number's default application gets the help and opt-out messages themselves."""
    receiver = receiver[0]
    for text in (b"STOP PROMO", b"INFO", b"stop"):
        assert await gateway.simulator.inject_mo("32470000006", "8686", text) == codec.ESME_ROK
    await gateway.wait_until(lambda: len(received(receiver, "shop")) == 3)
    traces = await trace_from(gateway, "32470000006")
    assert [t["incoming"]["action"] for t in reversed(traces)] == [None, "help", "stop"]
    assert not received(receiver, "promo")
