"""Retention: every `retention.every_s` (a reload that changes it takes effect at once), each
kind of record past its age is deleted in chunks of `retention.batch` rows, each chunk its own
short write, so the hot path's writes pass between them; then the tables are measured for the
metrics.

A failed sweep (the database away, the disk full) is logged and tried again next time.
"""

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

import trio
from sqlalchemy import Engine

from gatewayd.config.holder import ConfigHolder
from gatewayd.storage import retention as store
from gatewayd.storage.writer import Writer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepOutcome:
    """The last sweep, for the status page: when it started, what it deleted or why it failed."""

    at: datetime
    deleted: dict[str, int]
    error: str | None


class Retention:
    def __init__(
        self,
        holder: ConfigHolder,
        writer: Writer,
        engine: Engine,
        clock: Callable[[], datetime],
        on_deleted: Callable[[str, int], None] | None = None,
    ) -> None:
        self._holder = holder
        self._writer = writer
        self._engine = engine
        self._clock = clock
        self._on_deleted = on_deleted
        self.table_rows: dict[str, int] = {}
        self.database_bytes: int | None = None
        self.last_sweep: SweepOutcome | None = None

    async def run(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            started = trio.current_time()
            at = self._clock()
            try:
                deleted = await self.sweep()
                await self.measure()
            except Exception as error:
                log.warning("retention sweep failed, tried again later: %s", error)
                self.last_sweep = SweepOutcome(at, {}, str(error))
            else:
                self.last_sweep = SweepOutcome(at, dict(deleted), None)
            await self._until_next_sweep(started)

    async def _until_next_sweep(self, started: float) -> None:
        """Wait until `retention.every_s` after the last sweep `started`, as the configuration
        in force says: a reload that changes it moves the next sweep at once (sooner, or now
        if already due)."""
        while True:
            every_s = self._holder.current.config.retention.every_s
            with trio.move_on_at(started + every_s):
                await self._holder.wait_changed()
                continue
            return

    async def sweep(self) -> Counter:
        """Delete everything past its age now; rows deleted by table."""
        config = self._holder.current.config.retention
        now = self._clock()
        deleted: Counter = Counter()
        for kind in store.KINDS:
            days = getattr(config, f"{kind.name}_days")
            if days is None:
                continue
            cutoff = now - timedelta(days=days)
            while True:
                chunk = await self._writer.write(
                    partial(store.delete_chunk, kind=kind, cutoff=cutoff, limit=config.batch),
                    urgent=False,
                )
                deleted.update(chunk)
                if self._on_deleted is not None:
                    for table, rows in chunk.items():
                        self._on_deleted(table, rows)
                if chunk[kind.table.name] < config.batch:
                    break
        if sum(deleted.values()):
            log.info("retention: deleted %s", dict(sorted(deleted.items())))
        return deleted

    async def measure(self) -> None:
        """Rows per table and the database's size, read off the event loop."""

        def read() -> tuple[dict[str, int], int]:
            with self._engine.connect() as connection:
                return store.table_rows(connection), store.database_bytes(connection)

        self.table_rows, self.database_bytes = await trio.to_thread.run_sync(read)
