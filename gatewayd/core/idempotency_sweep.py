"""Idempotency keys past their window answer nothing more: deleted a batch at a time, so the
table holds about one window of keys and no sweep holds the writer long."""

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Connection

from gatewayd.config.holder import ConfigHolder
from gatewayd.core.periodic_sweep import PeriodicSweep
from gatewayd.storage import idempotency as store
from gatewayd.storage.writer import Writer

BATCH = 1000


class IdempotencyKeySweep(PeriodicSweep):
    def __init__(
        self,
        holder: ConfigHolder,
        writer: Writer,
        clock: Callable[[], datetime],
        every_s: float = 60.0,
    ) -> None:
        super().__init__(writer, every_s)
        self._holder = holder
        self._clock = clock

    def _sweep(self, connection: Connection) -> int:
        window = timedelta(seconds=self._holder.current.config.http.idempotency_window_s)
        return store.forget_before(connection, self._clock() - window, BATCH)
