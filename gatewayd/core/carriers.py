"""The carriers of the running configuration, each with its binds (and, for `simulator: true`,
its own in-process SMSC simulator). A reload keeps carriers whose settings did not change
bound, starts new ones and unbinds the ones removed or changed.

A suspended carrier (an operator's admin command, see core/operator_switches.py) stays bound,
so its receipts and incoming messages still arrive, but `available` leaves it out: nothing new
is submitted to it. `is_suspended` is the one place that says whether it is."""

import logging

import trio

from gatewayd.config.holder import ConfigHolder
from gatewayd.config.schema import CarrierConfig
from gatewayd.protocols.smpp.client import (
    Carrier,
    CarrierSettings,
    DeliverBatchHandler,
    DeliverHandler,
)
from gatewayd.protocols.smpp.simulator import Simulator, SimulatorSettings

log = logging.getLogger(__name__)


class CarrierPool:
    def __init__(
        self, on_deliver: DeliverHandler, on_deliver_batch: DeliverBatchHandler | None = None
    ) -> None:
        self._on_deliver = on_deliver
        self._on_deliver_batch = on_deliver_batch
        self.carriers: dict[str, Carrier] = {}
        self.configs: dict[str, CarrierConfig] = {}
        self.simulators: dict[str, Simulator] = {}
        self._scopes: dict[str, trio.CancelScope] = {}
        self._changed = trio.Event()
        self._suspended: frozenset[str] = frozenset()

    async def wait_changed(self) -> None:
        """Return when a bind of any carrier changes state, or carriers come or go."""
        await self._changed.wait()

    def _notify_changed(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def get(self, name: str) -> tuple[Carrier, CarrierConfig] | None:
        carrier = self.carriers.get(name)
        return (carrier, self.configs[name]) if carrier else None

    def available(self, name: str) -> tuple[Carrier, CarrierConfig] | None:
        """The carrier `name` when new messages may be submitted to it: bound, not suspended."""
        found = self.get(name)
        if found is None or not found[0].healthy() or name in self._suspended:
            return None
        return found

    def is_suspended(self, name: str) -> bool:
        return name in self._suspended

    def set_suspended(self, names: frozenset[str]) -> None:
        """The carriers suspended now; messages waiting for a carrier look again if it changed."""
        if names != self._suspended:
            self._suspended = names
            self._notify_changed()

    async def run(self, holder: ConfigHolder, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            await self._apply(nursery, holder.current.config.carriers)
            task_status.started()
            while True:
                snapshot = await holder.wait_changed()
                await self._apply(nursery, snapshot.config.carriers)

    async def _apply(self, nursery: trio.Nursery, wanted: list[CarrierConfig]) -> None:
        wanted_by_name = {carrier.name: carrier for carrier in wanted}
        for name in list(self.configs):
            if wanted_by_name.get(name) != self.configs[name]:
                log.info("carrier %s removed or changed: unbinding", name)
                self._scopes.pop(name).cancel()
                del self.carriers[name], self.configs[name]
                self.simulators.pop(name, None)
                self._notify_changed()
        for name, config in wanted_by_name.items():
            if name not in self.configs:
                await nursery.start(self._run_carrier, config)

    async def _run_carrier(self, config: CarrierConfig, task_status=trio.TASK_STATUS_IGNORED):
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                host, port = config.host or "", config.port
                simulated = config.simulator_settings
                if simulated is not None:
                    simulator = Simulator(
                        SimulatorSettings(
                            receipt_delay_s=simulated.receipt_delay_s,
                            delivered_ratio=simulated.delivered_ratio,
                            hex_ids=simulated.hex_ids,
                        )
                    )
                    host, port = await nursery.start(simulator.serve, "127.0.0.1", 0)
                    self.simulators[config.name] = simulator
                carrier = Carrier(
                    _settings(config, host, port),
                    self._on_deliver,
                    self._notify_changed,
                    on_deliver_batch=self._on_deliver_batch,
                )
                await nursery.start(carrier.run)
                self.carriers[config.name] = carrier
                self.configs[config.name] = config
                self._scopes[config.name] = scope
                self._notify_changed()
                task_status.started()


def _settings(config: CarrierConfig, host: str, port: int) -> CarrierSettings:
    return CarrierSettings(
        name=config.name,
        host=host,
        port=port,
        system_id=config.system_id or "gatewayd",
        password=config.password.get_secret_value() if config.password else "",
        system_type=config.system_type,
        bind_mode=config.bind,
        binds=config.binds,
        window=config.window,
        max_tps=config.max_tps,
        tls=config.tls,
        tls_verify=config.tls_verify,
        enquire_link_s=config.enquire_link_s,
        response_timeout_s=config.response_timeout_s,
        reconnect_min_s=config.reconnect_min_s,
        reconnect_max_s=config.reconnect_max_s,
    )
