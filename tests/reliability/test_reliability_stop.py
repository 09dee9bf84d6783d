"""A node stopped with SIGTERM hands back the work it had claimed, at once: on a shared
database the other nodes would otherwise wait for its leases to run out."""

import trio

from gatewayd.protocols.smpp.simulator import Simulator, SimulatorSettings
from tests.reliability.burst import Burst, claims
from tests.reliability.nodes import BINDS, WINDOW


async def test_sigterm_hands_back_the_claims_of_the_node(nursery, make_node, sqlite_url):
    simulator = Simulator(SimulatorSettings(silent=True))
    _, smsc_port = await nursery.start(simulator.serve, "127.0.0.1", 0)
    node = make_node("stopping-node", sqlite_url, smsc_port)
    await node.start()
    await simulator.wait_until(lambda: simulator.binds >= BINDS)
    await Burst([node.url], 50).run()
    with trio.fail_after(10):
        # The silent SMSC never answers: the node holds on to what it has claimed.
        while (await trio.to_thread.run_sync(claims, sqlite_url))["stopping-node"] < WINDOW * BINDS:
            await trio.sleep(0.05)
    assert await node.terminate() == 0
    assert await trio.to_thread.run_sync(claims, sqlite_url) == {}
