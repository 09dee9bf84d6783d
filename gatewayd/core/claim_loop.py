"""The loop both the dispatcher and the webhook outbox run: claim due rows in batches, handle
each in its own task (at most `concurrency` at once) or, given `handle_batch`, each batch in
one task (at most `concurrency` batches at once), and when the batch was not full, wait for
a wake-up or the idle poll before claiming again.

Neither a failed claim nor a failed handler ends the loop (the daemon would exit): the error
is logged and the loop goes on, after a pause when claiming failed. A row whose handler
failed keeps its claim until the lease ends, then it is claimed again."""

import logging
from collections.abc import Awaitable, Callable

import trio
from sqlalchemy import Connection, Row

from gatewayd.storage.writer import Writer

log = logging.getLogger(__name__)


class ClaimLoop:
    def __init__(
        self,
        writer: Writer,
        claim: Callable[[Connection], list[Row]],
        handle: Callable[[Row], Awaitable[None]] | None,
        *,
        batch: int,
        concurrency: int,
        idle_poll_s: float,
        gather_s: float = 0.0,
        handle_batch: Callable[[list[Row]], Awaitable[None]] | None = None,
    ) -> None:
        if (handle is None) == (handle_batch is None):
            raise ValueError("either handle or handle_batch")
        self._writer = writer
        self._claim = claim
        self._handle = handle
        self._handle_batch = handle_batch
        self._batch = batch
        self._idle_poll_s = idle_poll_s
        self._gather_s = gather_s
        self._slots = trio.Semaphore(concurrency)
        self._wakeup = trio.Event()

    def wake(self) -> None:
        """New work was stored: look now rather than at the next poll."""
        self._wakeup.set()

    async def run(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            task_status.started()
            while True:
                if self._handle_batch is not None:
                    # A slot first, then the claim: what is claimed is what is due at the
                    # moment it can be handled (a higher priority queued meanwhile first).
                    await self._slots.acquire()
                self._wakeup = trio.Event()
                try:
                    rows = await self._writer.write(self._claim, urgent=False)
                except Exception:
                    log.exception("claiming due work failed; trying again shortly")
                    if self._handle_batch is not None:
                        self._slots.release()
                    await trio.sleep(self._idle_poll_s)
                    continue
                if self._handle_batch is not None:
                    if rows:
                        nursery.start_soon(self._handle_many, rows)
                    else:
                        self._slots.release()
                else:
                    for row in rows:
                        await self._slots.acquire()
                        nursery.start_soon(self._handle_one, row)
                if len(rows) < self._batch:
                    with trio.move_on_after(self._idle_poll_s):
                        await self._wakeup.wait()
                    # Let a burst gather, so that one claim takes it whole.
                    await trio.sleep(self._gather_s)

    async def _handle_many(self, rows: list[Row]) -> None:
        assert self._handle_batch is not None
        try:
            await self._handle_batch(rows)
        except Exception:
            log.exception("handling %d claimed rows failed; claimed again later", len(rows))
        finally:
            self._slots.release()

    async def _handle_one(self, row: Row) -> None:
        assert self._handle is not None
        try:
            await self._handle(row)
        except Exception:
            log.exception("handling claimed row %s failed; it is claimed again later", row.id)
        finally:
            self._slots.release()
