"""Delivering the webhook outbox: claimed jobs go out concurrently; outcomes are stored in
batches.

A 2xx ends a job. Anything else (error status, timeout, refused connection, redirect) is
tried again after an exponential backoff, until the configured horizon after the job was
created; then the job is marked failed and counted. Jobs survive restarts (they are rows),
and a lease keeps two nodes from sending the same job at once.

The outbox claims when jobs were committed (the writer's after-commit topic of the webhook
channel, a few ms later so that one claim takes a burst), when a retry it scheduled comes
due, and otherwise at a slow poll (jobs of other nodes, leases run out). Claimed jobs wait
per destination host and go out from at most `max_per_host` tasks per host; the outcomes
that arrive while one is being written are written together, each an item of the writer's
bulk of its own. At most `concurrency` jobs are claimed and not yet recorded.
"""

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import trio
from sqlalchemy import Row

from gatewayd.config.holder import ConfigHolder
from gatewayd.core.batches import Batches
from gatewayd.core.events import claimed_with_records
from gatewayd.core.host_queues import HostQueues
from gatewayd.core.masking import mask_url
from gatewayd.core.webhook_backlog import destination_host
from gatewayd.protocols.webhooks.egress import Attempt, Egress
from gatewayd.protocols.webhooks.formats import build_request
from gatewayd.protocols.webhooks.retry import gives_up, next_delay
from gatewayd.protocols.webhooks.signing import sign
from gatewayd.storage import outbox as store
from gatewayd.storage.attempt_log import record_attempts
from gatewayd.storage.writer import Writer, WriterClosed

log = logging.getLogger(__name__)
Outcome = tuple[Row, Attempt]


@dataclass(frozen=True)
class OutboxSettings:
    batch: int = 200
    lease: timedelta = timedelta(seconds=120)
    idle_poll_s: float = 1.0
    """The safety net: claims are made when jobs commit or a retry comes due."""
    gather_s: float = 0.005
    concurrency: int = 256


class WebhookOutbox:
    def __init__(
        self,
        holder: ConfigHolder,
        writer: Writer,
        egress: Egress,
        node_id: str,
        clock: Callable[[], datetime],
        settings: OutboxSettings = OutboxSettings(),
        on_attempt: Callable[[Row, Attempt], None] | None = None,
    ) -> None:
        self._holder = holder
        self._writer = writer
        self._egress = egress
        self._node = node_id
        self._clock = clock
        self._settings = settings
        self._random = random.Random()
        self._on_attempt = on_attempt
        self._outcomes = _RecordOutcomes(self)
        self._batches: Batches[Outcome] = Batches(self._record)
        self._wakeup = trio.Event()
        self._claim_now = False
        self._in_flight = 0
        """Jobs claimed and not yet recorded."""
        self._next_retry: datetime | None = None
        self._retry_at = float("inf")
        """trio time at which the earliest retry this outbox scheduled comes due."""
        self.claims = 0
        writer.on_commit(store.jobs_topic("webhook"), self.wake)

    def wake(self) -> None:
        """New work was stored: look now rather than at the next poll."""
        self._claim_now = True
        self._wakeup.set()

    async def run(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        settings = self._settings
        async with trio.open_nursery() as nursery:
            self._hosts: HostQueues[Row] = HostQueues(
                nursery, self._deliver, self._egress.max_per_host
            )
            nursery.start_soon(self._batches.run)
            task_status.started()
            while True:
                self._claim_now = False
                room = min(settings.batch, settings.concurrency - self._in_flight)
                if room <= 0:
                    await self._until_woken(float("inf"), retries=False)
                    continue
                if trio.current_time() >= self._retry_at:
                    self._retry_at = float("inf")
                try:
                    jobs = await self._writer.write(partial(self._claim, limit=room), urgent=False)
                except Exception:
                    log.exception("claiming webhook jobs failed; trying again shortly")
                    await trio.sleep(settings.idle_poll_s)
                    continue
                self.claims += 1
                self._in_flight += len(jobs)
                for job in jobs:
                    self._hosts.put(destination_host(job.url), job)
                if len(jobs) < room:
                    await self._until_woken(trio.current_time() + settings.idle_poll_s)
                    # Let a burst gather, so that one claim takes it whole.
                    await trio.sleep(settings.gather_s)

    async def _until_woken(self, poll_at: float, retries: bool = True) -> None:
        """Until `wake` is called, `poll_at`, or (with `retries`) a scheduled retry is due."""
        while not self._claim_now:
            deadline = min(poll_at, self._retry_at) if retries else poll_at
            if trio.current_time() >= deadline:
                return
            self._wakeup = trio.Event()
            with trio.move_on_at(deadline):
                await self._wakeup.wait()

    def _claim(self, connection, limit: int) -> list[Row]:
        now = self._clock()
        jobs = store.claim_jobs(connection, "webhook", self._node, now, self._settings.lease, limit)
        return claimed_with_records(connection, jobs, self._holder.current.directory, now)

    async def _deliver(self, job: Row) -> None:
        try:
            request = build_request(
                job.kind, job.method or "POST", job.format or "JSON", job.url, job.record
            )
            headers = self._signature(job.application, request)
            attempt = await self._egress.send(request, headers)
        except Exception as error:  # one bad job must not end the outbox, and the daemon
            log.exception("webhook %d to %s could not be sent", job.id, mask_url(job.url))
            attempt = Attempt(False, None, f"internal error: {type(error).__name__}", None, 0.0)
        if self._on_attempt is not None:
            try:
                self._on_attempt(job, attempt)
            except Exception:
                log.exception("counting webhook %d failed", job.id)
        self._batches.add((job, attempt))

    async def _record(self, outcomes: list[Outcome]) -> None:
        """Write `outcomes`, each an item of the writer's bulk of its own, so that one the
        storage cannot take fails alone. A job whose outcome is not stored keeps its claim
        until the lease ends, then it is sent again."""
        self._next_retry = None
        try:
            results = await self._writer.write_bulk_many(self._outcomes, outcomes, urgent=False)
            for (job, _), result in zip(outcomes, results, strict=True):
                if isinstance(result, Exception) and not isinstance(result, WriterClosed):
                    log.error(
                        "recording the outcome of webhook %d failed; it is sent again once "
                        "its claim runs out",
                        job.id,
                        exc_info=result,
                    )
            if self._next_retry is not None:
                wait = max(0.0, (self._next_retry - self._clock()).total_seconds())
                if trio.current_time() + wait < self._retry_at:
                    self._retry_at = trio.current_time() + wait
                    self._wakeup.set()  # the idle wait ends sooner
        except WriterClosed:
            pass
        except Exception:
            log.exception("recording %d webhook outcomes failed", len(outcomes))
        finally:
            full = self._in_flight >= self._settings.concurrency
            self._in_flight -= len(outcomes)
            if full:
                self.wake()

    def _retry_due(self, at: datetime) -> None:
        """A retry is scheduled at `at` (called in the writer thread while `_record` waits):
        claim then, even if nothing else wakes the outbox."""
        if self._next_retry is None or at < self._next_retry:
            self._next_retry = at

    def _signature(self, application: str, request) -> dict[str, str]:
        app = self._holder.current.directory.by_name.get(application)
        secret = app.config.webhooks.signing_secret if app else None
        if secret is None:
            return {}
        return sign(
            secret.get_secret_value(), int(time.time()), request.method, request.url, request.body
        )

    def _outcome(self, job: Row, attempt: Attempt, now: datetime) -> tuple[bool, dict]:
        """(finished, values) for one attempt: delivered, failed for good, or again later."""
        attempts = job.attempts + 1
        if attempt.delivered:
            return True, store.finished(job.id, "delivered", now, attempts, None)
        config = self._holder.current.config.webhooks
        if gives_up(job.time_created, now, config.retry_horizon_s):
            log.error(
                "webhook %d to %s failed for good after %d attempts: %s",
                job.id,
                mask_url(job.url),
                attempts,
                attempt.summary,
            )
            return True, store.finished(job.id, "failed", now, attempts, attempt.summary)
        delay = next_delay(attempts, config.retry_base_s, config.retry_max_s, self._random)
        return False, store.again_later(
            job.id, now + timedelta(seconds=delay), attempts, attempt.summary
        )


class _RecordOutcomes:
    """Bulk: the outcomes of the attempts made while one transaction was being written; an
    item is one outcome."""

    def __init__(self, outbox: WebhookOutbox) -> None:
        self._outbox = outbox

    def run_bulk(self, connection, outcomes: list[Outcome]) -> list[None]:
        now = self._outbox._clock()
        finished, later = [], []
        for job, attempt in outcomes:
            done, values = self._outbox._outcome(job, attempt, now)
            (finished if done else later).append(values)
            if not done:
                self._outbox._retry_due(values["next_attempt_at"])
        store.record_outcomes(connection, finished, later)
        record_attempts(
            connection, [_attempt_row(job.id, attempt, now) for job, attempt in outcomes]
        )
        return [None] * len(outcomes)


def _attempt_row(job_id: int, attempt: Attempt, recorded: datetime) -> dict[str, Any]:
    """The attempt log's row for `attempt`, recorded at `recorded`: its time is when the
    request left."""
    return {
        "outbox_id": job_id,
        "time_attempted": recorded - timedelta(seconds=attempt.duration_s),
        "status_code": attempt.status,
        "error": None if attempt.error is None else attempt.error[:255],
        "source_address": attempt.source,
        "duration_ms": round(attempt.duration_s * 1000),
    }
