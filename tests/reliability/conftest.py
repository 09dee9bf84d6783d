"""Real `gatewayd run` processes and the SMSC simulator they submit to, running in the test's
own trio run so that every submit_sm can be counted."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from gatewayd.protocols.smpp.simulator import Simulator, SimulatorSettings
from tests.daemon.conftest import free_port
from tests.reliability.nodes import MakeNode, Node, node_config


@pytest.fixture
async def smsc(nursery) -> tuple[Simulator, int]:
    """The SMSC simulator on a loopback port, answering with a receipt at once."""
    simulator = Simulator(SimulatorSettings(receipt_delay_s=0))
    _, port = await nursery.start(simulator.serve, "127.0.0.1", 0)
    return simulator, port


@pytest.fixture
def make_node(tmp_path: Path) -> Iterator[MakeNode]:
    """make_node(node_id, database_url, smsc_port, workers=0) -> a Node (not started); every
    process is killed at the end of the test, whatever happened."""
    made: list[Node] = []

    def make(node_id: str, database_url: str, smsc_port: int, workers: int = 0) -> Node:
        http_port = free_port()
        config = node_config(node_id, database_url, http_port, smsc_port, workers)
        made.append(Node(tmp_path / node_id, config, http_port))
        return made[-1]

    yield make
    for node in made:
        node.close()
