"""Messages whose receipt never came: once their validity is over (plus a grace period for
late receipts), they end as Unknown, so every accepted message reaches a final status."""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import trio
from sqlalchemy import Connection

from gatewayd.config.holder import ConfigHolder
from gatewayd.core.events import status_events
from gatewayd.core.statuses import Status
from gatewayd.storage import messages as store
from gatewayd.storage.writer import Writer

log = logging.getLogger(__name__)
DESCRIPTION = "Unknown (no delivery receipt by the end of validity)"


class ReceiptDeadline:
    def __init__(
        self,
        holder: ConfigHolder,
        writer: Writer,
        clock: Callable[[], datetime],
        grace: timedelta = timedelta(hours=1),
        every_s: float = 60.0,
    ) -> None:
        self._holder = holder
        self._writer = writer
        self._clock = clock
        self._grace = grace
        self._every_s = every_s

    async def run(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            await self.sweep()
            await trio.sleep(self._every_s)

    async def sweep(self) -> int:
        return await self._writer.write(self._sweep)

    def _sweep(self, connection: Connection) -> int:
        now = self._clock()
        overdue = store.end_overdue_submissions(
            connection,
            now - self._grace,
            status=int(Status.UNKNOWN),
            status_description=DESCRIPTION,
            time_done=now,
        )
        for message in overdue:
            app = self._holder.current.directory.by_name.get(message.application)
            poll, jobs = status_events(message._mapping, app, now)
            store.add_events(connection, poll, jobs)
        if overdue:
            log.warning(
                "%d submitted messages got no receipt before their validity ended", len(overdue)
            )
        return len(overdue)
