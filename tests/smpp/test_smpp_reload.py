"""A configuration reload keeps healthy binds of unchanged carriers, rebinds changed ones."""

import trio
import trio.testing

from gatewayd.config.holder import ConfigHolder
from gatewayd.config.loader import load_config
from gatewayd.core.carriers import CarrierPool

CONFIG = """
carriers:
  - {{name: steady, simulator: true, window: 4}}
  - {{name: changing, simulator: true, window: {window}}}
accounts:
  - name: acme
    applications: [{{name: shop, api_keys: ["{key}"]}}]
"""


async def no_deliveries(carrier, pdu) -> int:
    return 0


async def test_reload_keeps_unchanged_binds_and_rebinds_changed_carriers(nursery, tmp_path):
    path = tmp_path / "gatewayd.yaml"
    path.write_text(CONFIG.format(window=4, key="key-0123456789"))
    holder = ConfigHolder(path, load_config(path))
    pool = CarrierPool(no_deliveries)
    await nursery.start(pool.run, holder)
    with trio.fail_after(10):
        for carrier in pool.carriers.values():
            await carrier.wait_healthy()
    steady, changing = pool.carriers["steady"], pool.carriers["changing"]
    steady_simulator = pool.simulators["steady"]

    path.write_text(CONFIG.format(window=4, key="key-9876543210"))
    assert await holder.reload()
    await trio.testing.wait_all_tasks_blocked()
    assert pool.carriers["steady"] is steady and pool.carriers["changing"] is changing
    assert steady_simulator.binds == 1 and steady.healthy()

    path.write_text(CONFIG.format(window=8, key="key-9876543210"))
    assert await holder.reload()
    with trio.fail_after(10):
        while pool.carriers.get("changing") in (None, changing):
            await trio.testing.wait_all_tasks_blocked()
        await pool.carriers["changing"].wait_healthy()
    assert pool.carriers["steady"] is steady and steady_simulator.binds == 1
    assert pool.carriers["changing"].settings.window == 8


async def test_a_broken_reload_changes_nothing(nursery, tmp_path):
    path = tmp_path / "gatewayd.yaml"
    path.write_text(CONFIG.format(window=4, key="key-0123456789"))
    holder = ConfigHolder(path, load_config(path))
    pool = CarrierPool(no_deliveries)
    await nursery.start(pool.run, holder)
    before = dict(pool.carriers)
    path.write_text("carriers: [{name: x}]")
    assert not await holder.reload()
    assert holder.current.generation == 1 and pool.carriers == before
