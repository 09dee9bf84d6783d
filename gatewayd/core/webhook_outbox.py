"""Delivering the webhook outbox: claimed jobs go out concurrently; each outcome is stored.

A 2xx ends a job. Anything else (error status, timeout, refused connection, redirect) is
tried again after an exponential backoff, until the configured horizon after the job was
created; then the job is marked failed and counted. Jobs survive restarts (they are rows),
and a lease keeps two nodes from sending the same job at once.
"""

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row

from gatewayd.config.holder import ConfigHolder
from gatewayd.core.claim_loop import ClaimLoop
from gatewayd.protocols.webhooks.egress import Attempt, Egress
from gatewayd.protocols.webhooks.formats import build_request
from gatewayd.protocols.webhooks.retry import gives_up, next_delay
from gatewayd.protocols.webhooks.signing import sign
from gatewayd.storage import outbox as store
from gatewayd.storage.attempt_log import record_attempts
from gatewayd.storage.writer import Writer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboxSettings:
    batch: int = 200
    lease: timedelta = timedelta(seconds=120)
    idle_poll_s: float = 0.25
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
        self._loop = ClaimLoop(
            writer,
            self._claim,
            self._deliver,
            batch=settings.batch,
            concurrency=settings.concurrency,
            idle_poll_s=settings.idle_poll_s,
        )
        self.wake = self._loop.wake
        self.run = self._loop.run
        self._random = random.Random()
        self._on_attempt = on_attempt
        self._outcomes = _RecordOutcomes(self)

    def _claim(self, connection) -> list[Row]:
        settings = self._settings
        return store.claim_jobs(
            connection, "webhook", self._node, self._clock(), settings.lease, settings.batch
        )

    async def _deliver(self, job: Row) -> None:
        try:
            request = build_request(
                job.kind, job.method or "POST", job.format or "JSON", job.url, job.record
            )
            headers = self._signature(job.application, request)
            attempt = await self._egress.send(request, headers)
        except Exception as error:  # one bad job must not end the outbox, and the daemon
            log.exception("webhook %d to %s could not be sent", job.id, job.url)
            attempt = Attempt(False, None, f"internal error: {type(error).__name__}", None, 0.0)
        if self._on_attempt is not None:
            self._on_attempt(job, attempt)
        await self._writer.write_bulk(self._outcomes, (job, attempt))

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
                job.url,
                attempts,
                attempt.summary,
            )
            return True, store.finished(job.id, "failed", now, attempts, attempt.summary)
        delay = next_delay(attempts, config.retry_base_s, config.retry_max_s, self._random)
        return False, store.again_later(
            job.id, now + timedelta(seconds=delay), attempts, attempt.summary
        )


class _RecordOutcomes:
    """Bulk: the outcomes of the attempts made while one transaction was being written."""

    def __init__(self, outbox: WebhookOutbox) -> None:
        self._outbox = outbox

    def run_bulk(self, connection, items: list[tuple[Row, Attempt]]) -> list[None]:
        now = self._outbox._clock()
        finished, later = [], []
        for job, attempt in items:
            done, values = self._outbox._outcome(job, attempt, now)
            (finished if done else later).append(values)
        store.record_outcomes(connection, finished, later)
        record_attempts(connection, [_attempt_row(job.id, attempt, now) for job, attempt in items])
        return [None] * len(items)


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
