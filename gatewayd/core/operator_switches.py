"""Suspended carriers and maintenance mode, as operators set them with admin commands.

They live in the database, so they survive a restart and hold for every node sharing it:
each node reads them at start (before it submits anything), again every `refresh_s`, and at
once after a change made through its own admin API. The carrier pool is told which carriers
are suspended (the dispatcher then routes around them, and their binds stay up for receipts
and incoming messages); the front doors ask `maintenance` through the message service.
"""

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import trio
from sqlalchemy import Engine

from gatewayd.config.holder import ConfigHolder
from gatewayd.core.carriers import CarrierPool
from gatewayd.storage import operator_state as store
from gatewayd.storage.operator_state import OperatorState
from gatewayd.storage.writer import Writer

log = logging.getLogger(__name__)

REFRESH_S = 2.0


class OperatorSwitches:
    def __init__(
        self,
        holder: ConfigHolder,
        engine: Engine,
        writer: Writer,
        carriers: CarrierPool,
        clock: Callable[[], datetime],
        refresh_s: float = REFRESH_S,
    ) -> None:
        self._holder = holder
        self._engine = engine
        self._writer = writer
        self._carriers = carriers
        self._clock = clock
        self._refresh_s = refresh_s
        self.state = OperatorState({}, None)

    @property
    def maintenance(self) -> bool:
        """On by the configuration (`maintenance: true`) or by an admin command."""
        return self._holder.current.config.maintenance or self.state.maintenance is not None

    async def run(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        await self.refresh()
        task_status.started()
        while True:
            await trio.sleep(self._refresh_s)
            try:
                await self.refresh()
            except Exception as error:  # the database away for a while: keep the last state
                log.warning("operator switches not read again: %s", error)

    async def refresh(self) -> None:
        def read() -> OperatorState:
            with self._engine.connect() as connection:
                return store.read_state(connection)

        self._apply(await trio.to_thread.run_sync(read))

    async def suspend(self, carrier: str, by: str) -> bool:
        return await self._change(lambda c, now: store.suspend(c, carrier, by, now))

    async def resume(self, carrier: str) -> bool:
        return await self._change(lambda c, _now: store.resume(c, carrier))

    async def set_maintenance(self, on: bool, by: str) -> bool:
        return await self._change(lambda c, now: store.set_maintenance(c, on, by, now))

    async def _change(self, change: Callable[[Any, datetime], bool]) -> bool:
        now = self._clock()

        def write(connection) -> tuple[bool, OperatorState]:
            return change(connection, now), store.read_state(connection)

        changed, state = await self._writer.write(write)
        self._apply(state)
        return changed

    def _apply(self, state: OperatorState) -> None:
        if state.suspended.keys() != self.state.suspended.keys():
            log.info("suspended carriers: %s", ", ".join(sorted(state.suspended)) or "none")
        if (state.maintenance is None) != (self.state.maintenance is None):
            log.info("maintenance mode %s", "on" if state.maintenance else "off")
        self.state = state
        self._carriers.set_suspended(frozenset(state.suspended))
