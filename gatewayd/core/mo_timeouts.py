"""Concatenated incoming messages whose last fragments never come: after a timeout, what did
arrive is handed on (marked incomplete) rather than kept forever or dropped."""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Connection

from gatewayd.core.inbound import Inbound
from gatewayd.core.mo_decoding import decode_user_data
from gatewayd.core.periodic_sweep import PeriodicSweep
from gatewayd.storage import incoming as incoming_store
from gatewayd.storage.writer import Writer

log = logging.getLogger(__name__)
INCOMPLETE_MARK = " […]"


class FragmentSweeper(PeriodicSweep):
    def __init__(
        self,
        inbound: Inbound,
        writer: Writer,
        clock: Callable[[], datetime],
        timeout: timedelta = timedelta(minutes=10),
        every_s: float = 30.0,
    ) -> None:
        self._inbound = inbound
        super().__init__(writer, every_s)
        self._clock = clock
        self._timeout = timeout

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
