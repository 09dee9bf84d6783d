"""A write that runs at start and then every few seconds: the clean-ups that give stuck work an
end (receipts that never come, concatenated messages whose last parts never come). A sweep
that fails is logged and tried again at the next turn; it never ends the daemon."""

import logging
from abc import ABC, abstractmethod

import trio
from sqlalchemy import Connection

from gatewayd.storage.writer import Writer

log = logging.getLogger(__name__)


class PeriodicSweep(ABC):
    def __init__(self, writer: Writer, every_s: float) -> None:
        self._writer = writer
        self._every_s = every_s

    async def run(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("%s failed; trying again later", type(self).__name__)
            await trio.sleep(self._every_s)

    async def sweep(self) -> int:
        """Sweep once now (tests call this with a fake clock); how many rows it ended."""
        return await self._writer.write(self._sweep, urgent=False)

    @abstractmethod
    def _sweep(self, connection: Connection) -> int:
        """The clean-up itself, in one transaction; how many rows it ended."""
