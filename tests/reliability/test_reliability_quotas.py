"""Trial conditions and quotas with real `gatewayd run` processes: the trial's count survives
a restart (on both databases, the Message API in HTTP worker processes), and two nodes on one
PostgreSQL database, sent to at the same time, never accept more than the quota between them.
"""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trio
from sqlalchemy import func, select

from gatewayd.config.schema import DatabaseConfig
from gatewayd.storage.engine import open_engine
from gatewayd.storage.tables import messages, quota_counters
from tests.daemon.conftest import free_port
from tests.reliability.nodes import KEY, Node, node_config

ALLOWED, STRANGER = "32470000001", "32470000099"
APPLICATION = f'      - {{name: shop, api_keys: ["{KEY}"]}}'


def with_limits(config: str, trial: str, quota: str = "") -> str:
    limits = f", trial: {{{trial}}}" + (f", quota: {{{quota}}}" if quota else "")
    assert APPLICATION in config
    return config.replace(APPLICATION, APPLICATION[:-1] + limits + "}")


@pytest.fixture
def limited_node(tmp_path: Path) -> Iterator:
    """limited_node(node_id, database_url, smsc_port, trial, quota="", workers=0) -> a Node
    (not started) whose application has those trial and quota settings; killed at the end."""
    made: list[Node] = []

    def make(node_id, database_url, smsc_port, trial, quota="", workers=0) -> Node:
        http_port = free_port()
        config = node_config(node_id, database_url, http_port, smsc_port, workers)
        made.append(Node(tmp_path / node_id, with_limits(config, trial, quota), http_port))
        return made[-1]

    yield make
    for node in made:
        node.close()


async def send(client: httpx.AsyncClient, to: str = ALLOWED) -> tuple[int, int]:
    answer = await client.post("/sms/v1/Message", json={"apiKey": KEY, "to": to, "message": "x"})
    return answer.status_code, answer.json()["ResultCode"]


def count(database_url: str, query) -> int:
    engine = open_engine(DatabaseConfig(url=database_url))
    try:
        with engine.connect() as connection:
            return connection.execute(query).scalar_one()
    finally:
        engine.dispose()


async def test_the_trial_count_survives_a_restart(limited_node, database_url, smsc):
    _, smsc_port = smsc
    authorized = f'authorized_numbers: ["{ALLOWED}"], quota: 3'
    node = limited_node("a", database_url, smsc_port, f'until: "2099-01-01", {authorized}', "", 2)
    await node.start()
    async with httpx.AsyncClient(base_url=node.url, timeout=10) as client:
        assert [await send(client) for _ in range(2)] == [(200, 0), (200, 0)]
        assert await send(client, STRANGER) == (400, 36)
    assert await node.terminate() == 0

    await node.start()
    async with httpx.AsyncClient(base_url=node.url, timeout=10) as client:
        assert [await send(client) for _ in range(2)] == [(200, 0), (400, 37)]
    assert await node.terminate() == 0

    text = node.config_path.read_text()
    node.config_path.write_text(text.replace('until: "2099-01-01"', 'until: "2020-01-01"'))
    await node.start()
    async with httpx.AsyncClient(base_url=node.url, timeout=10) as client:
        assert await send(client) == (400, 35)
    assert await node.terminate() == 0
    assert count(database_url, select(func.count()).select_from(messages)) == 3


@pytest.mark.postgres
async def test_two_nodes_on_one_database_never_exceed_the_quota(limited_node, postgres_url, smsc):
    """Both nodes charge the same three counters (trial, per day, per month) at once; each
    request is accepted or refused whole, and exactly the quota is accepted."""
    _, smsc_port = smsc
    quota, per_node = 25, 40
    limits = (f"quota: {quota}", "messages_per_day: 1000, parts_per_month: 1000")
    nodes = [limited_node(name, postgres_url, smsc_port, *limits) for name in ("a", "b")]
    async with trio.open_nursery() as starting:
        for node in nodes:
            starting.start_soon(node.start)
    answers: list[tuple[int, int]] = []

    async def burst(node: Node) -> None:
        async with (
            httpx.AsyncClient(base_url=node.url, timeout=20) as client,
            trio.open_nursery() as sending,
        ):
            for _ in range(per_node):
                sending.start_soon(_collect, client, answers)

    with trio.fail_after(60):
        async with trio.open_nursery() as both:
            for node in nodes:
                both.start_soon(burst, node)
    assert sorted(set(answers)) == [(200, 0), (400, 37)]
    assert answers.count((200, 0)) == quota
    assert count(postgres_url, select(func.count()).select_from(messages)) == quota
    used = select(func.max(quota_counters.c.used)).where(
        quota_counters.c.counter == "trial:shop:messages:trial"
    )
    assert count(postgres_url, used) == quota
    for node in nodes:
        assert await node.terminate() == 0


async def _collect(client: httpx.AsyncClient, answers: list[tuple[int, int]]) -> None:
    answers.append(await send(client))
