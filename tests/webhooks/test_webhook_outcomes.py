"""The outcomes of webhook attempts are written together, each on its own: one the storage
cannot take fails alone, and the others of its batch are stored."""

import trio
from sqlalchemy import select

from gatewayd.protocols.webhooks.egress import Attempt
from gatewayd.storage.tables import outbox, webhook_attempts
from tests.webhooks.test_webhook_outbox import with_hooks


async def test_an_outcome_that_cannot_be_stored_fails_alone(gateway_factory, receiver):
    gateway = await gateway_factory(accounts_patch=with_hooks(receiver))
    runtime = gateway.runtime
    receiver.status = 503
    for n in range(3):
        await gateway.simulator.inject_mo("32470000001", "8686", b"msg %d" % n)

    def jobs():
        with runtime.engine.connect() as connection:
            return connection.execute(select(outbox).order_by(outbox.c.id)).all()

    def attempts_of(job_id: int) -> int:
        with runtime.engine.connect() as connection:
            query = select(webhook_attempts).where(webhook_attempts.c.outbox_id == job_id)
            return len(connection.execute(query).all())

    await gateway.wait_until(
        lambda: [(j.state, j.attempts) for j in jobs()] == [("pending", 1)] * 3
    )
    first, broken, last = await trio.to_thread.run_sync(jobs)
    delivered = Attempt(True, 200, None, None, 0.01)
    unstorable = Attempt(True, 200, None, None, float("nan"))  # no duration to store
    runtime.webhooks._in_flight += 3  # as if the outbox had claimed them again
    await runtime.webhooks._record([(first, delivered), (broken, unstorable), (last, delivered)])

    first, broken, last = await trio.to_thread.run_sync(jobs)
    assert (first.state, first.attempts) == (last.state, last.attempts) == ("delivered", 2)
    assert (broken.state, broken.attempts) == ("pending", 1), "nothing of it stored"
    assert [attempts_of(job.id) for job in (first, broken, last)] == [2, 1, 2]
