"""Messages whose receipt never came: once their validity is over (plus a grace period for
late receipts), they end as Unknown, so every accepted message reaches a final status."""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Connection

from gatewayd.config.holder import ConfigHolder
from gatewayd.core.lifecycle import Transitions
from gatewayd.core.periodic_sweep import PeriodicSweep
from gatewayd.core.statuses import Status, StatusCallback
from gatewayd.storage import messages as store
from gatewayd.storage.writer import Writer

log = logging.getLogger(__name__)
DESCRIPTION = "Unknown (no delivery receipt by the end of validity)"
RECEIPT_GRACE = timedelta(hours=1)
"""How long after its message's validity a part still takes a (late) receipt."""


class ReceiptDeadline(PeriodicSweep):
    def __init__(
        self,
        holder: ConfigHolder,
        writer: Writer,
        clock: Callable[[], datetime],
        grace: timedelta = RECEIPT_GRACE,
        every_s: float = 60.0,
        on_status: StatusCallback | None = None,
    ) -> None:
        self._holder = holder
        super().__init__(writer, every_s)
        self._clock = clock
        self._grace = grace
        self._on_status = on_status
        self._ended: list[tuple[str, str]] = []

    async def sweep(self) -> int:
        """Sweep, then count what ended once it is committed (a batch retried alone runs
        `_sweep` again, so counting inside it could count twice)."""
        ended = await super().sweep()
        if self._on_status is not None:
            for application, carrier in self._ended:
                self._on_status(application, carrier, Status.UNKNOWN)
        self._ended = []
        return ended

    def _sweep(self, connection: Connection) -> int:
        now = self._clock()
        transitions = Transitions(self._holder.current.directory, now)
        for message_id in store.overdue_submissions(connection, now - self._grace, limit=500):
            transitions.ask(message_id, Status.UNKNOWN, DESCRIPTION)
        ended = transitions.apply(connection)
        self._ended = [(change.application, change.carrier) for change in transitions.reached]
        if ended:
            log.warning(
                "%d submitted messages got no receipt before their validity ended", len(ended)
            )
        return len(ended)
