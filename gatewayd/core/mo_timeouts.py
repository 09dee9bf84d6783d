"""Concatenated incoming messages whose last fragments never come: after a timeout, what did
arrive is handed on (marked incomplete) rather than kept forever or dropped."""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import trio
from sqlalchemy import Connection

from gatewayd.core.inbound import Inbound
from gatewayd.core.mo_decoding import decode_user_data
from gatewayd.storage import incoming as incoming_store
from gatewayd.storage.writer import Writer

log = logging.getLogger(__name__)
INCOMPLETE_MARK = " […]"


class FragmentSweeper:
    def __init__(
        self,
        inbound: Inbound,
        writer: Writer,
        clock: Callable[[], datetime],
        timeout: timedelta = timedelta(minutes=10),
        every_s: float = 30.0,
    ) -> None:
        self._inbound = inbound
        self._writer = writer
        self._clock = clock
        self._timeout = timeout
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
        groups = incoming_store.stale_fragment_groups(connection, now - self._timeout)
        for group in groups:
            fragments = incoming_store.take_group(connection, group)
            data = b"".join(fragment.payload for fragment in fragments)
            text = decode_user_data(fragments[0].data_coding, data) + INCOMPLETE_MARK
            log.warning(
                "incoming message from %s to %s: %d of %d parts after %s; handed on",
                group.sender,
                group.recipient,
                len(fragments),
                group.total,
                self._timeout,
            )
            self._inbound.deliver_text(
                connection, group.carrier, group.sender, group.recipient, text, now
            )
        return len(groups)
