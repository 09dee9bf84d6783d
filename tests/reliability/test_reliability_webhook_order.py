"""After a webhook outage, each message's statuses reach the receiver in the order they
happened: a receiver that applies them in order ends on the final status, not on Submitted."""

import json

from sqlalchemy import func, select

from gatewayd.core.statuses import Status
from gatewayd.protocols.http.messages import Request, Response
from gatewayd.protocols.http.server import HttpServer, ServerLimits
from gatewayd.storage.tables import messages, outbox
from tests.gateway import Gateway

MESSAGES = 300
PER_REQUEST = 50
HOOKS = """webhooks: {retry_base_s: 0.05, retry_max_s: 0.2, retry_horizon_s: 3600}
carriers:"""


class Receiver:
    """Answers 503 while down; keeps (MessageId, StatusCode) of what it accepts, in order."""

    def __init__(self) -> None:
        self.down = True
        self.refused = 0
        self.kept: list[tuple[str, int]] = []

    async def handle(self, request: Request) -> Response:
        if self.down:
            self.refused += 1
            return Response(503, b"down")
        record = json.loads(request.body)
        self.kept.append((record["MessageId"], int(record["StatusCode"])))
        return Response(200, b"ok")


def _count(gateway: Gateway, query) -> int:
    with gateway.runtime.engine.connect() as connection:
        return connection.execute(query).scalar_one()


def out_of_order(kept: list[tuple[str, int]]) -> int:
    """Messages whose final status arrived before (one of) their Submitted."""
    submitted, final = int(Status.SUBMITTED), int(Status.DELIVERED)
    last_submitted: dict[str, int] = {}
    first_final: dict[str, int] = {}
    for index, (message_id, code) in enumerate(kept):
        if code == submitted:
            last_submitted[message_id] = index
        elif code == final:
            first_final.setdefault(message_id, index)
    return sum(first_final[m] < last_submitted.get(m, -1) for m in first_final)


async def test_statuses_of_a_message_arrive_in_order_after_an_outage(
    gateway_factory, nursery, figures
):
    receiver = Receiver()
    server = HttpServer("receiver", ["127.0.0.1:0"], receiver.handle, ServerLimits())
    port = (await nursery.start(server.run))[0][1]
    hook = f"""
        webhooks:
          status: {{url: "http://127.0.0.1:{port}/status", method: POST, format: JSON}}"""

    def patch(text: str) -> str:
        text = text.replace("        max_parts: 3", "        max_parts: 3" + hook)
        return text.replace("carriers:", HOOKS, 1)

    gateway = await gateway_factory(accounts_patch=patch)
    for first in range(0, MESSAGES, PER_REQUEST):
        recipients = ",".join(str(32470000000 + first + n) for n in range(PER_REQUEST))
        answer = await gateway.send(to=recipients, message="outage")
        assert len(answer["Messages"]) == PER_REQUEST
    delivered = select(func.count()).where(messages.c.status == int(Status.DELIVERED))
    await gateway.wait_until(lambda: _count(gateway, delivered) == MESSAGES, timeout_s=60)
    await gateway.wait_until(lambda: receiver.refused >= 2 * MESSAGES, timeout_s=60)
    receiver.down = False
    pending = select(func.count()).where(outbox.c.state != "delivered")
    await gateway.wait_until(lambda: _count(gateway, pending) == 0, timeout_s=60)
    assert len(set(receiver.kept)) == 2 * MESSAGES, "every status of every message"
    wrong = out_of_order(receiver.kept)
    figures.add(
        f"{MESSAGES} messages, {receiver.refused} webhooks refused during the outage: "
        f"final status before Submitted for {wrong} messages"
    )
    assert wrong == 0
