"""This instance's identity in the shared database: joined once the listeners are ours,
renewed while it runs, left at a clean stop (handing back its claims); meanwhile dead
instances are forgotten, and the claims of those whose process is gone handed back."""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import trio
from sqlalchemy import Connection

from gatewayd.storage import instances as store
from gatewayd.storage.writer import Writer

log = logging.getLogger(__name__)


class InstanceLease:
    def __init__(
        self,
        writer: Writer,
        clock: Callable[[], datetime],
        instance_id: str,
        node_id: str,
        lease: timedelta,
    ) -> None:
        self._writer = writer
        self._clock = clock
        self.instance_id = instance_id
        self._node_id = node_id
        self._lease = lease

    async def join(self) -> None:
        """Register this instance and forget dead ones (see instances.take_over_dead)."""

        def join(connection: Connection) -> list[str]:
            now = self._clock()
            store.register(connection, self.instance_id, self._node_id, now, self._lease)
            return store.take_over_dead(connection, now)

        self._report(await self._writer.write(join))

    async def run(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            await trio.sleep(self._lease.total_seconds() / 3)
            try:
                await self.renew()
            except Exception:
                log.exception("renewing the lease of instance %s failed", self.instance_id)

    async def renew(self) -> None:
        def renew(connection: Connection) -> tuple[bool, list[str]]:
            now = self._clock()
            kept = store.renew(connection, self.instance_id, self._node_id, now, self._lease)
            return kept, store.take_over_dead(connection, now)

        kept, dead = await self._writer.write(renew, urgent=False)
        if not kept:
            log.warning(
                "instance %s: its lease had run out (the database was unreachable for longer "
                "than database.instance_lease_s); work it held may have been taken over",
                self.instance_id,
            )
        self._report(dead)

    async def leave(self) -> None:
        """Hand back this instance's claims, so another takes them at once."""
        await self._writer.write(lambda c: store.leave(c, self.instance_id))

    @staticmethod
    def _report(dead: list[str]) -> None:
        for instance_id in dead:
            log.warning("instance %s is dead: forgotten", instance_id)
