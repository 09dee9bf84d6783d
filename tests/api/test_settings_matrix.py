"""Every combination of an application's settings meets every kind of traffic: what reaches
each receiver (status and incoming webhooks on a real HTTP server, a real SMPP client bound
to the SMPP server, polling) and how often the carrier (the simulator) saw each message.

Settings: status webhook on/off, incoming webhook off or POST/GET x JSON/XML, SMPP
credentials on/off, blacklist on/off, the receipt before or after the submit_sm_resp, and
keywords on/off (another application owns a keyword on the application's number, the
application owns one on another's number, the account answers HELP and has STOP/START words
of its own). The full product is 160 gateways per database; CASES is a pairwise set of 10
(every value of each setting meets every value of every other;
`test_the_cases_cover_every_pair` checks it), and the combination of issue #14 (status
webhook, SMPP, receipt first) is among them, with keywords on.
Traffic, in every case: an HTTP submit, an SMPP-server submit (with SMPP credentials), a
plain and a concatenated incoming message, STOP, then START; with keywords, the account's
own STOP and START words instead, a message with the other application's keyword, one with
the application's keyword on the other number, and HELP; afterwards the status page counts
what the carrier saw, with nothing left waiting. Every case also meets each of the operators'
switches (a suspended carrier, maintenance mode), with the traffic those change: submits, an
incoming message and STOP.

Trial and quota (`LIMIT_CASES`): an application in trial or under a daily quota, with the
sandbox, debug mode, a closed time window and the blacklist each on or off (a pairwise set of
6 of the 32), sending to a blacklisted, an unauthorized and two allowed numbers past its limit.
"""

import itertools
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.etree import ElementTree

import pytest
import trio

from gatewayd.core.statuses import Status
from gatewayd.protocols.http.messages import Request, Response
from gatewayd.protocols.http.server import HttpServer, ServerLimits
from gatewayd.protocols.smpp import codec
from gatewayd.protocols.smpp.client import Outcome
from gatewayd.storage import blacklist as blacklist_store
from gatewayd.storage.tables import messages, request_logs
from tests.gateway import KEY, Gateway
from tests.smpp.test_smpp_front_door import SMPP_APP, bound_esme

INCOMING_HOOKS = [None, ("POST", "JSON"), ("POST", "XML"), ("GET", "JSON"), ("GET", "XML")]


@dataclass(frozen=True)
class Case:
    status_hook: bool
    incoming_hook: tuple[str, str] | None
    smpp: bool
    blacklist: bool
    receipt_first: bool
    keywords: bool

    def __str__(self) -> str:
        incoming = "-".join(self.incoming_hook) if self.incoming_hook else "off"
        return (
            f"status-{'on' if self.status_hook else 'off'}_incoming-{incoming}_"
            f"smpp-{'on' if self.smpp else 'off'}_blacklist-{'on' if self.blacklist else 'off'}_"
            f"receipt-{'first' if self.receipt_first else 'after'}_"
            f"keywords-{'on' if self.keywords else 'off'}"
        )


def _pairwise() -> list[Case]:
    """Each incoming-webhook value twice, once with each value of the two-valued settings
    (a row and its complement); the five rows give every pair of two-valued settings both
    equal and different, so every pair of values occurs."""
    rows = [(1, 1, 1, 1, 1), (1, 1, 0, 0, 0), (1, 0, 1, 0, 0), (1, 0, 0, 1, 1), (1, 1, 1, 0, 1)]
    order = [("POST", "JSON"), None, ("POST", "XML"), ("GET", "JSON"), ("GET", "XML")]
    cases = []
    for incoming, row in zip(order, rows, strict=True):
        for bits in (row, tuple(1 - b for b in row)):
            status, smpp, blacklist, receipt_first, keywords = (bool(b) for b in bits)
            cases.append(Case(status, incoming, smpp, blacklist, receipt_first, keywords))
    return cases


CASES = _pairwise()
HTTP_TO, SMPP_TO, MO_FROM, CONCAT_FROM, OPT_FROM, KEYWORD_FROM, HELP_FROM = (
    f"3247000000{n}" for n in range(1, 8)
)
CONCAT_TEXT = ("first half, ", "second half")
STOP_REPLY, START_REPLY = "You are unsubscribed", "Welcome back"
HELP_REPLY = "Text PROMO for offers"
OTHER_NUMBER = "32470009999"


def test_the_cases_cover_every_pair():
    values = [
        [False, True],
        INCOMING_HOOKS,
        [False, True],
        [False, True],
        [False, True],
        [False, True],
    ]
    rows = [
        (c.status_hook, c.incoming_hook, c.smpp, c.blacklist, c.receipt_first, c.keywords)
        for c in CASES
    ]
    for (i, first), (j, second) in itertools.combinations(enumerate(values), 2):
        seen = {(row[i], row[j]) for row in rows}
        assert seen == set(itertools.product(first, second)), (i, j)
    assert Case(True, ("POST", "JSON"), True, True, True, True) in CASES


@dataclass
class Receiver:
    """The application's webhook receiver: every request, as (path, record), in order."""

    records: list[tuple[str, dict]] = field(default_factory=list)
    methods: set[tuple[str, str]] = field(default_factory=set)

    async def handle(self, request: Request) -> Response:
        self.methods.add((request.path, request.method + " " + request.content_type))
        if request.method == "GET":
            record = request.query
        elif "xml" in request.content_type:
            record = {child.tag: child.text for child in ElementTree.fromstring(request.body)}
        else:
            record = json.loads(request.body)
        self.records.append((request.path, record))
        return Response(200, b"ok")

    def of(self, path: str) -> list[dict]:
        return [record for at, record in self.records if at == path]


def _config(case: Case, port: int):
    def patch(text: str) -> str:
        hooks = ""
        if case.status_hook:
            hooks += f'\n          status: {{url: "http://127.0.0.1:{port}/status"}}'
        if case.incoming_hook:
            method, form = case.incoming_hook
            hooks += (
                f'\n          incoming: {{url: "http://127.0.0.1:{port}/incoming", '
                f"method: {method}, format: {form}}}"
            )
        app = "        max_parts: 3"
        if hooks:
            app += "\n        webhooks:" + hooks
        if case.smpp:
            app += SMPP_APP
        if case.keywords:
            app += f'\n        keywords: [{{number: "{OTHER_NUMBER}", words: [SHOP]}}]'
            promo = f'{{incoming: {{url: "http://127.0.0.1:{port}/promo"}}}}'
            text = text.replace(
                "        alphanumeric_sender: true\n",
                "        alphanumeric_sender: true\n      - name: promo\n"
                f"        webhooks: {promo}\n"
                '        keywords: [{number: "8686", words: [PROMO]}]\n',
                1,
            )
        text = text.replace("        max_parts: 3", app, 1)
        account = "    blacklist: true"
        if case.blacklist:
            account += f'\n    stop_reply: "{STOP_REPLY}"\n    start_reply: "{START_REPLY}"'
        else:
            account = "    blacklist: false"
        if case.keywords:
            account += "\n    stop_words: [STOP, QUIT]\n    start_words: [START, UNSTOP]"
            account += f'\n    help_reply: "{HELP_REPLY}"'
        text = text.replace("    blacklist: true", account, 1)
        text = text.replace(
            "carriers:", "webhooks: {retry_base_s: 0.05, retry_max_s: 0.2}\ncarriers:", 1
        )
        if case.smpp:
            text += '\nsmpp_server: {listen: ["127.0.0.1:0"], failed_login_delay_s: 0.01}\n'
        return text

    return patch


async def _blacklisted(gateway: Gateway) -> bool:
    def read() -> bool:
        with gateway.runtime.engine.connect() as connection:
            return bool(blacklist_store.blacklisted_among(connection, "acme", [OPT_FROM]))

    return await trio.to_thread.run_sync(read)


def _stored_messages(gateway: Gateway) -> list:
    with gateway.runtime.engine.connect() as connection:
        return [row for row in connection.execute(messages.select()) if row.application == "shop"]


async def _all_delivered(
    gateway: Gateway, receiver: Receiver, case: Case, outgoing: int
) -> Counter:
    """Wait until the application's `outgoing` messages are Delivered and their statuses (two
    each) and two incoming messages reached the receivers the case has; (to, text) of each
    submit the carrier saw."""

    def done() -> bool:
        stored = _stored_messages(gateway)
        if len(stored) != outgoing or not all(m.status == Status.DELIVERED for m in stored):
            return False
        if case.status_hook and len(receiver.of("/status")) < 2 * outgoing:
            return False
        return not case.incoming_hook or len(receiver.of("/incoming")) >= 2

    await gateway.wait_until(done, timeout_s=20)
    return Counter(
        (s.fields["destination_addr"].decode(), s.fields["short_message"])
        for s in gateway.simulator.submitted
    )


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_every_setting_with_every_kind_of_traffic(gateway_factory, nursery, figures, case):
    receiver = Receiver()
    server = HttpServer("application", ["127.0.0.1:0"], receiver.handle, ServerLimits())
    port = (await nursery.start(server.run))[0][1]
    gateway = await gateway_factory(accounts_patch=_config(case, port))
    simulator = gateway.simulator
    simulator.settings.receipt_before_response = case.receipt_first
    mo_answers: list[int] = []
    esme = None
    if case.smpp:
        esme, client = await bound_esme(nursery, gateway.smpp_port)
        with trio.fail_after(10):
            await client.wait_healthy()

    # Outgoing: one message through each front door.
    expected_texts = {HTTP_TO: [b"over HTTP"]}
    answer = await gateway.send(to=HTTP_TO, message="over HTTP")
    assert answer["Messages"][0]["MessageId"]
    if case.smpp:
        result = await client.submit(
            {
                "source_addr": "8686",
                "destination_addr": SMPP_TO,
                "registered_delivery": 1,
                "short_message": b"over SMPP",
            }
        )
        assert result.outcome is Outcome.ACCEPTED
        smpp_message_id = result.message_id
        expected_texts[SMPP_TO] = [b"over SMPP"]
    # Incoming: plain, concatenated, STOP, START (each acknowledged only once stored).
    mo_answers.append(await simulator.inject_mo(MO_FROM, "8686", b"plain hello"))
    for seq, text in enumerate(CONCAT_TEXT, start=1):
        udh = bytes([5, 0, 3, 0x42, len(CONCAT_TEXT), seq])
        mo_answers.append(
            await simulator.inject_mo(CONCAT_FROM, "8686", udh + text.encode(), esm_class=0x40)
        )
    stop, start = ("quit", "Unstop") if case.keywords else ("STOP", "START")
    mo_answers.append(await simulator.inject_mo(OPT_FROM, "8686", stop.encode()))
    blacklisted_after_stop = await _blacklisted(gateway)
    mo_answers.append(await simulator.inject_mo(OPT_FROM, "8686", start.encode()))
    blacklisted_after_start = await _blacklisted(gateway)
    if case.blacklist:
        expected_texts[OPT_FROM] = [STOP_REPLY.encode(), START_REPLY.encode()]
    incoming_texts = sorted(["plain hello", "".join(CONCAT_TEXT), stop, start])
    promo_texts = []
    if case.keywords:
        promo_texts = ["promo now"]
        mo_answers.append(await simulator.inject_mo(KEYWORD_FROM, "8686", b"promo now"))
        mo_answers.append(await simulator.inject_mo(KEYWORD_FROM, OTHER_NUMBER, b"Shop please"))
        mo_answers.append(await simulator.inject_mo(HELP_FROM, "8686", b"help"))
        expected_texts[HELP_FROM] = [HELP_REPLY.encode()]
        incoming_texts = sorted([*incoming_texts, "Shop please", "help"])
    outgoing = sum(len(texts) for texts in expected_texts.values())

    def done() -> bool:
        stored = _stored_messages(gateway)
        if len(stored) != outgoing or not all(Status(m.status).final for m in stored):
            return False
        if case.status_hook and len(receiver.of("/status")) < 2 * outgoing:
            return False
        if case.incoming_hook and len(receiver.of("/incoming")) < len(incoming_texts):
            return False
        if len(receiver.of("/promo")) < len(promo_texts):
            return False
        return esme is None or len(esme.delivered) >= len(incoming_texts) + 1

    with trio.move_on_after(20):
        await gateway.wait_until(done, timeout_s=25)
        # SMPP deliveries commit nothing the test waits on after the last one.
        while esme is not None and len(esme.delivered) < len(incoming_texts) + 1:
            await esme.changed.wait()

    # The carrier saw each message once.
    seen: dict[str, list[bytes]] = {}
    for submitted in simulator.submitted:
        seen.setdefault(submitted.fields["destination_addr"].decode(), []).append(
            submitted.fields["short_message"]
        )
    copies = Counter((to, text) for to, texts in seen.items() for text in texts)
    most = max(copies.values())
    figures.add(f"submits of one message at the carrier: at most {most}")
    assert mo_answers == [codec.ESME_ROK] * (8 if case.keywords else 5), "every one acknowledged"
    assert blacklisted_after_stop is case.blacklist, "STOP blacklists when enabled"
    assert not blacklisted_after_start, "START removes the number again"
    assert {to: sorted(texts) for to, texts in seen.items()} == {
        to: sorted(texts) for to, texts in expected_texts.items()
    }

    # Every message is Delivered; each status reached the webhook once, in order.
    stored = _stored_messages(gateway)
    assert [Status(m.status) for m in stored] == [Status.DELIVERED] * outgoing
    in_order = [int(Status.SUBMITTED), int(Status.DELIVERED)]
    statuses: dict[str, list[int]] = {}
    for record in receiver.of("/status"):
        statuses.setdefault(record["MessageId"], []).append(int(record["StatusCode"]))
    expected_hooks = {m.id: in_order for m in stored} if case.status_hook else {}
    assert statuses == expected_hooks

    # Incoming messages reached the webhook once each, in the configured method and format.
    hooked = sorted(record["Message"] for record in receiver.of("/incoming"))
    assert hooked == (incoming_texts if case.incoming_hook else [])
    assert [record["Message"] for record in receiver.of("/promo")] == promo_texts
    if case.incoming_hook:
        method, form = case.incoming_hook
        kinds = {kind for path, kind in receiver.methods if path == "/incoming"}
        wanted = "GET " if method == "GET" else f"POST application/{form.lower()}"
        assert all(kind.startswith(wanted) for kind in kinds), kinds

    # The SMPP client got the incoming messages and the receipt of its own message only.
    if esme is not None:
        receipts = [p for p in esme.delivered if p.get("esm_class", 0) & 0x04]
        mo = sorted(p.get("short_message").decode() for p in esme.delivered if p not in receipts)
        assert [p.text("receipted_message_id") for p in receipts] == [smpp_message_id]
        assert mo == incoming_texts

    # Polling hands out the same.
    polled = await gateway.client.post("/sms/v1/Status", json={"apiKey": KEY, "maxRecords": 100})
    by_message: dict[str, list[int]] = {}
    for record in polled.json()["StatusMessages"]:
        by_message.setdefault(record["MessageId"], []).append(int(record["StatusCode"]))
    assert by_message == {m.id: in_order for m in stored}
    polled = await gateway.client.post("/sms/v1/Incoming", json={"apiKey": KEY, "maxRecords": 100})
    assert sorted(r["Message"] for r in polled.json()["IncomingMessages"]) == incoming_texts

    # The status page counts what the carrier saw, and nothing is left waiting.
    status = (await gateway.admin.get("/admin/status.json")).json()
    (carrier,) = status["carriers"]
    assert carrier["submits"]["total"] == len(simulator.submitted)
    assert carrier["receipts"]["total"] == outgoing
    waiting = status["queues"]["by_application"] + status["queues"]["by_carrier"]
    assert {(entry["queued"], entry["scheduled"], entry["in_flight"]) for entry in waiting} == {
        (0, 0, 0)
    }
    assert status["webhooks"]["groups"] == []
    assert status["receipts_waiting"]["groups"] == []


SWITCHES = ["suspended", "maintenance"]


@pytest.mark.parametrize("switch", SWITCHES)
@pytest.mark.parametrize("case", CASES, ids=str)
async def test_operator_switches_with_every_setting(gateway_factory, nursery, case, switch):
    """A suspended carrier and maintenance mode (admin commands) meet every setting. While
    the carrier is suspended everything is accepted and waits, incoming messages and STOP
    still come in; resumed, each message reaches the carrier once. In maintenance the front
    doors refuse sends (HTTP 34, SMPP ESME_RX_T_APPN) and the carrier side still works:
    incoming messages, STOP and its reply."""
    receiver = Receiver()
    server = HttpServer("application", ["127.0.0.1:0"], receiver.handle, ServerLimits())
    port = (await nursery.start(server.run))[0][1]
    gateway = await gateway_factory(accounts_patch=_config(case, port))
    simulator = gateway.simulator
    simulator.settings.receipt_before_response = case.receipt_first
    esme = client = None
    if case.smpp:
        esme, client = await bound_esme(nursery, gateway.smpp_port)
        with trio.fail_after(10):
            await client.wait_healthy()
    command = "/admin/carriers/sim/suspend" if switch == "suspended" else "/admin/maintenance/on"
    assert (await gateway.admin.post(command)).is_success

    expected_texts: dict[str, list[bytes]] = {}
    answer = await gateway.send(to=HTTP_TO, message="over HTTP")
    if switch == "suspended":
        assert answer["Messages"][0]["MessageId"]
        expected_texts[HTTP_TO] = [b"over HTTP"]
    else:
        assert answer["ResultCode"] == 34
    if client is not None:
        result = await client.submit(
            {"source_addr": "8686", "destination_addr": SMPP_TO, "short_message": b"over SMPP"}
        )
        if switch == "suspended":
            assert result.outcome is Outcome.ACCEPTED
            expected_texts[SMPP_TO] = [b"over SMPP"]
        else:
            assert (result.outcome, result.status) == (Outcome.RETRY, codec.ESME_RX_T_APPN)
    mo_answers = [await simulator.inject_mo(MO_FROM, "8686", b"plain hello")]
    mo_answers.append(await simulator.inject_mo(OPT_FROM, "8686", b"STOP"))
    assert mo_answers == [codec.ESME_ROK] * 2
    assert await _blacklisted(gateway) is case.blacklist
    if case.blacklist:
        expected_texts[OPT_FROM] = [STOP_REPLY.encode()]
    outgoing = sum(len(texts) for texts in expected_texts.values())

    if switch == "suspended":

        def all_waiting() -> bool:
            stored = _stored_messages(gateway)
            return len(stored) == outgoing and all(m.claimed_by for m in stored)

        await gateway.wait_until(all_waiting)
        assert simulator.submitted == [], "nothing reaches a suspended carrier"
        assert (await gateway.admin.post("/admin/carriers/sim/resume")).is_success

    seen = await _all_delivered(gateway, receiver, case, outgoing)
    assert seen == Counter((to, text) for to, texts in expected_texts.items() for text in texts)
    if case.incoming_hook:
        assert sorted(r["Message"] for r in receiver.of("/incoming")) == ["STOP", "plain hello"]
    if esme is not None:
        with trio.fail_after(10):
            while len([p for p in esme.delivered if not p.get("esm_class", 0) & 0x04]) < 2:
                await esme.changed.wait()

    if switch == "maintenance":
        assert (await gateway.admin.post("/admin/maintenance/off")).is_success
        after = await gateway.send(to=HTTP_TO, message="after maintenance")
        assert after["Messages"][0]["ResultCode"] == 0
        await simulator.wait_until(lambda: len(simulator.submitted) == outgoing + 1)


@dataclass(frozen=True)
class LimitCase:
    """An application in trial or under a daily quota, with the settings a refusal meets."""

    trial: bool
    sandbox: bool
    debug: bool
    window_closed: bool
    blacklist: bool

    def __str__(self) -> str:
        return "_".join(
            [
                "trial" if self.trial else "quota",
                f"sandbox-{'on' if self.sandbox else 'off'}",
                f"debug-{'on' if self.debug else 'off'}",
                f"window-{'closed' if self.window_closed else 'open'}",
                f"blacklist-{'on' if self.blacklist else 'off'}",
            ]
        )


LIMIT_ROWS = [(0, 0, 0, 0, 0), (0, 0, 0, 0, 1), (0, 1, 1, 1, 0)]
LIMIT_ROWS += [(1, 0, 1, 1, 0), (1, 1, 0, 1, 1), (1, 1, 1, 0, 1)]
LIMIT_CASES = [LimitCase(*(bool(b) for b in row)) for row in LIMIT_ROWS]
LISTED, FIRST, SECOND, UNAUTHORIZED = "32470000011", "32470000012", "32470000013", "32470000014"
LIMIT = 2


def test_the_limit_cases_cover_every_pair():
    rows = [tuple(vars(case).values()) for case in LIMIT_CASES]
    for i, j in itertools.combinations(range(5), 2):
        assert {(row[i], row[j]) for row in rows} == set(itertools.product([False, True], repeat=2))


def _limit_config(case: LimitCase):
    def patch(text: str) -> str:
        if case.trial:
            numbers = json.dumps([LISTED, FIRST, SECOND])
            limit = f"\n        trial: {{quota: {LIMIT}, authorized_numbers: {numbers}}}"
        else:
            limit = f"\n        quota: {{messages_per_day: {LIMIT}}}"
        if case.window_closed:
            limit += '\n        time_windows: [{days: [mon], start: "00:00", end: "00:01"}]'
        text = text.replace("        max_parts: 3", "        max_parts: 3" + limit, 1)
        account = f"    blacklist: {str(case.blacklist).lower()}"
        if case.debug:
            account += "\n    debug: true"
        return text.replace("    blacklist: true", account, 1)

    return patch


def _expected_codes(case: LimitCase) -> list[int]:
    """What each send of the traffic answers: the blacklist and the trial's numbers refuse
    whatever else holds; the quota counts only what is to be sent (not the sandbox, not
    messages dropped outside the time windows)."""
    counts = not (case.sandbox or case.window_closed)
    used, codes = 0, []
    for to in (LISTED, FIRST, UNAUTHORIZED, FIRST, SECOND):
        if case.blacklist and to == LISTED:
            codes.append(32)
        elif case.trial and to == UNAUTHORIZED:
            codes.append(36)
        elif counts and used >= LIMIT:
            codes.append(37)
        else:
            used += counts
            codes.append(0)
    return codes


@pytest.mark.parametrize("case", LIMIT_CASES, ids=str)
async def test_trial_and_quota_with_every_setting(gateway_factory, case):
    gateway = await gateway_factory(accounts_patch=_limit_config(case))
    gateway.runtime.clock.set(datetime(2026, 12, 8, 12, tzinfo=UTC))  # a Tuesday
    if case.blacklist:
        added = await gateway.admin.post("/admin/accounts/acme/blacklist", json={"msisdn": LISTED})
        assert added.status_code == 201
    path = "/sms/sandbox/Message" if case.sandbox else "/sms/v1/Message"
    answers = [
        (await gateway.client.post(path, json={"apiKey": KEY, "to": to, "message": "x"})).json()
        for to in (LISTED, FIRST, UNAUTHORIZED, FIRST, SECOND)
    ]
    expected = _expected_codes(case)
    assert [answer["ResultCode"] for answer in answers] == expected
    over = "Trial Quota Limit Reached" if case.trial else "Quota Limit Reached: application"
    assert all(
        answer["ResultDescription"].startswith(over)
        for answer in answers
        if answer["ResultCode"] == 37
    )

    stored = _stored_messages(gateway)
    assert len(stored) == expected.count(0)
    assert all(m.sandbox is case.sandbox for m in stored)
    dropped = [m for m in stored if Status(m.status) is Status.DROPPED]
    assert len(dropped) == (len(stored) if case.window_closed else 0)
    stats = (await gateway.admin.get("/admin/applications/shop/stats")).json()
    counted = 0 if case.sandbox or case.window_closed else LIMIT
    assert [quota["remaining"] for quota in stats["quotas"]] == [LIMIT - counted]

    if case.debug:
        with gateway.runtime.engine.connect() as connection:
            logged = connection.execute(request_logs.select().order_by(request_logs.c.id)).all()
        codes = [json.loads(log.response_body)["ResultCode"] for log in logged]
        assert codes == expected, "every answer, refusals included, is in the debug log"


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_priority_and_throughput_cap_with_every_setting(gateway_factory, nursery, case):
    """An application at priority 3 under a cap of 20 messages a second (#20 §5) meets every
    setting: each of its messages, over HTTP, over SMPP and a STOP reply, reaches the carrier
    once with priority_flag 3, and its statuses and incoming messages reach every receiver."""
    receiver = Receiver()
    server = HttpServer("application", ["127.0.0.1:0"], receiver.handle, ServerLimits())
    port = (await nursery.start(server.run))[0][1]
    prioritised = _config(case, port)

    def patch(text: str) -> str:
        return prioritised(text).replace(
            "        max_parts: 3",
            "        max_parts: 3\n        priority: 3\n        submit_max_tps: 20",
            1,
        )

    gateway = await gateway_factory(accounts_patch=patch)
    simulator = gateway.simulator
    simulator.settings.receipt_before_response = case.receipt_first
    expected: Counter = Counter()
    answer = await gateway.send(to=f"{HTTP_TO},{SMPP_TO}", message="prioritised")
    assert [m["ResultCode"] for m in answer["Messages"]] == [0, 0]
    expected.update([(HTTP_TO, b"prioritised"), (SMPP_TO, b"prioritised")])
    if case.smpp:
        _, client = await bound_esme(nursery, gateway.smpp_port)
        with trio.fail_after(10):
            await client.wait_healthy()
        result = await client.submit(
            {"source_addr": "8686", "destination_addr": SMPP_TO, "short_message": b"over SMPP"}
        )
        assert result.outcome is Outcome.ACCEPTED
        expected[(SMPP_TO, b"over SMPP")] += 1
    assert await simulator.inject_mo(MO_FROM, "8686", b"plain hello") == codec.ESME_ROK
    assert await simulator.inject_mo(OPT_FROM, "8686", b"STOP") == codec.ESME_ROK
    if case.blacklist:
        expected[(OPT_FROM, STOP_REPLY.encode())] += 1
    outgoing = sum(expected.values())

    seen = await _all_delivered(gateway, receiver, case, outgoing)
    assert seen == expected
    assert {s.fields["priority_flag"] for s in simulator.submitted} == {3}
    assert {m.priority for m in _stored_messages(gateway)} == {3}
