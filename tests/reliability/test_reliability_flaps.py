"""Issue #7, scenario 2 — carrier flaps: the SMSC drops the connection every few hundred
submits (unanswered) and now and then throttles. Two thousand messages go through the HTTP
API anyway: none is lost, every one ends Delivered, every receipt finds its part. What the
flaps cost is counted: duplicates at the carrier, reconnects, throttles.

A duplicate is the price of "at least once": a submit the SMSC accepted but whose response
was lost with the connection is submitted again. Its first carrier id never reaches the
gateway, so the receipt for it cannot be matched: such receipts stay unmatched. Receipts are
at least once too: one whose deliver_sm_resp was lost in a drop is delivered again, finds its
part already final (no part waits for it) and is stored unmatched as well.
"""

from collections import Counter
from dataclasses import dataclass

import trio
from sqlalchemy import func, select

from gatewayd.core.statuses import Status
from gatewayd.protocols.smpp import codec
from gatewayd.storage.tables import message_parts, messages, receipts
from tests.gateway import Gateway

REQUESTS = 200
RECIPIENTS_PER_REQUEST = 10
LONG_EVERY = 10  # every tenth request sends a two-part message
CONCURRENT_REQUESTS = 8
DROP_EVERY = 300
THROTTLE_EVERY = 97
DELIVERY_TIMEOUT_S = 90
BINDS = 2
FAST_RECONNECT = """
    reconnect_min_s: 0.05
    reconnect_max_s: 0.2
    binds: {binds}
    window: 10"""


def with_fast_reconnects(text: str) -> str:
    simulator = "    simulator: {receipt_delay_s: 0}"
    return text.replace(simulator, simulator + FAST_RECONNECT.format(binds=BINDS))


def recipients(request: int) -> str:
    first = 32470000000 + request * RECIPIENTS_PER_REQUEST
    return ",".join(str(first + n) for n in range(RECIPIENTS_PER_REQUEST))


def text(request: int) -> str:
    label = f"flap {request:04d} "
    return label + "x" * 170 if request % LONG_EVERY == 0 else label


async def send_all(gateway: Gateway) -> list[str]:
    """Every request through the API, a few at a time; the accepted message ids."""
    accepted: list[str] = []
    slots = trio.Semaphore(CONCURRENT_REQUESTS)

    async def one(request: int) -> None:
        async with slots:
            answer = await gateway.send(to=recipients(request), message=text(request))
        assert answer["ResultCode"] == 0, answer
        accepted.extend(m["MessageId"] for m in answer["Messages"])

    async with trio.open_nursery() as nursery:
        for request in range(REQUESTS):
            nursery.start_soon(one, request)
    return accepted


@dataclass
class Stored:
    statuses: Counter[int]
    parts: int
    delivered_parts: int
    carrier_ids: set[str]
    unmatched_receipts: list[str]


def stored(gateway: Gateway) -> Stored:
    with gateway.runtime.engine.connect() as connection:
        statuses = Counter(
            dict(
                connection.execute(
                    select(messages.c.status, func.count()).group_by(messages.c.status)
                ).all()
            )
        )
        parts = connection.execute(select(func.sum(messages.c.number_of_parts))).scalar_one()
        part_states = dict(
            connection.execute(
                select(message_parts.c.state, func.count()).group_by(message_parts.c.state)
            ).all()
        )
        carrier_ids = set(connection.execute(select(message_parts.c.carrier_message_id)).scalars())
        unmatched = connection.execute(
            select(receipts.c.carrier_message_id).where(receipts.c.time_matched.is_(None))
        ).scalars()
        return Stored(
            statuses, parts or 0, part_states.get("delivered", 0), carrier_ids, list(unmatched)
        )


def all_delivered(gateway: Gateway, accepted: int) -> bool:
    delivered = select(func.count()).where(messages.c.status == int(Status.DELIVERED))
    with gateway.runtime.engine.connect() as connection:
        return connection.execute(delivered).scalar_one() == accepted


async def test_flapping_carrier_loses_nothing_and_every_receipt_is_matched(
    gateway_factory, figures
) -> None:
    gateway = await gateway_factory(accounts_patch=with_fast_reconnects)
    simulator = gateway.simulator
    simulator.settings.drop_every = DROP_EVERY
    simulator.settings.throttle_every = THROTTLE_EVERY
    binds_at_start = simulator.binds

    accepted = await send_all(gateway)
    assert len(accepted) == len(set(accepted)) == REQUESTS * RECIPIENTS_PER_REQUEST

    await gateway.wait_until(lambda: all_delivered(gateway, len(accepted)), DELIVERY_TIMEOUT_S)
    # The SMSC counts a receipt once answered, and the gateway answers once it is stored.
    await simulator.wait_until(lambda: simulator.receipts_sent == len(simulator.submitted))
    result = stored(gateway)

    assert result.statuses == {int(Status.DELIVERED): len(accepted)}, "nothing lost"
    assert result.delivered_parts == result.parts, "every part's receipt matched"
    at_carrier = Counter(
        (s.fields["destination_addr"], s.fields["short_message"]) for s in simulator.submitted
    )
    assert len(at_carrier) == result.parts, "every part reached the carrier"
    duplicates = sum(at_carrier.values()) - len(at_carrier)
    never_acknowledged = {s.message_id for s in simulator.submitted} - result.carrier_ids
    # A receipt whose deliver_sm_resp was lost in a drop comes again: compare ids, not rows.
    unmatched = set(result.unmatched_receipts)
    assert never_acknowledged <= unmatched
    repeated = unmatched - never_acknowledged
    assert repeated <= result.carrier_ids, "the others came again for a part already final"
    assert len(never_acknowledged) == duplicates, "each duplicate is a lost submit_sm_resp"

    reconnects = simulator.binds - binds_at_start
    throttles = gateway.runtime.carriers.carriers["sim"].status_counts[codec.ESME_RTHROTTLED]
    assert reconnects >= len(simulator.submitted) // DROP_EVERY, "the SMSC did drop binds"
    assert throttles > 0, "the SMSC did throttle"
    figures.add(
        f"{len(accepted)} messages ({result.parts} parts) accepted, "
        f"{result.statuses[int(Status.DELIVERED)]} Delivered, 0 lost; "
        f"{len(simulator.submitted)} submits accepted by the SMSC, {duplicates} duplicates; "
        f"{reconnects} reconnects, {throttles} throttled submits; "
        f"{simulator.receipts_sent} receipts, {len(never_acknowledged)} unmatched for a "
        f"duplicate whose submit_sm_resp was lost, {len(repeated)} sent again after their "
        f"part was final ({len(result.unmatched_receipts)} stored)"
    )
