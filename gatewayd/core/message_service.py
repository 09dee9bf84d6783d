"""What the front doors (HTTP Message API, e-mail, SMPP server) ask of the core, and all of it.

A front door parses its protocol, authenticates against `directory`, and then only calls
the methods here: submit, cancel, look a message up, poll statuses and incoming messages,
and the few reads and writes its protocol needs (blacklist at RCPT time, SMPP fragments,
idempotency keys, debug request logs). None of them reaches the storage, the writer or the
dispatcher itself, so the front doors can run where those are not (a worker process
talking to the carrier process) behind this same interface. What a front door needs to know
of the storage's behaviour comes from here too: a deadline for the writes made while a peer
waits for an answer (`answering_within`), and which errors mean "not stored, try again"
(`is_storage_failure`).
"""

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import trio
from sqlalchemy import Connection, Engine, Row

from gatewayd.config.holder import ConfigHolder
from gatewayd.config.schema import Config
from gatewayd.core.directory import App, Directory
from gatewayd.core.events import carried_records
from gatewayd.core.lifecycle import Transitions
from gatewayd.core.rate_limit import FixedWindowLimiter, RateDecision
from gatewayd.core.result_codes import Result
from gatewayd.core.statuses import Status, StatusCallback
from gatewayd.core.submission import RecipientResult, SubmitRefused, SubmitRequest, Submitter
from gatewayd.storage import blacklist as blacklist_store
from gatewayd.storage import idempotency as idempotency_store
from gatewayd.storage import incoming as fragment_store
from gatewayd.storage import messages as message_store
from gatewayd.storage import request_logs
from gatewayd.storage.engine import DatabaseUnavailable, check_connection
from gatewayd.storage.idempotency import Remembered
from gatewayd.storage.writer import (
    PEER_WRITE_TIMEOUT_S,
    Writer,
    answering_within,
    is_storage_failure,
)

__all__ = [
    "PEER_WRITE_TIMEOUT_S",
    "MessageService",
    "OutcomeUnknown",
    "Remembered",
    "answering_within",
    "is_core_unavailable",
    "is_storage_failure",
]

Remember = Callable[[list[RecipientResult]], Remembered]


class OutcomeUnknown(Exception):
    """The call reached the core and its answer did not come back (the carrier process went
    away): it may have been stored or not, so the front door must say neither."""


def is_core_unavailable(error: BaseException) -> bool:
    """The core could not answer: the storage refused (nothing stored) or the carrier process
    went away (outcome unknown). For what a front door may leave out of its answer."""
    return is_storage_failure(error) or isinstance(error, OutcomeUnknown)


DEBUG_LIMIT_PER_MINUTE = 30
READY_CHECK_TIMEOUT_S = 2.0


class MessageService:
    def __init__(
        self,
        holder: ConfigHolder,
        engine: Engine,
        writer: Writer,
        submitter: Submitter,
        clock: Callable[[], datetime],
        on_accepted: Callable[[], None] = lambda: None,
        on_status: StatusCallback | None = None,
        webhook_sources: Callable[[], dict[str, Any]] = dict,
        in_maintenance: Callable[[], bool] = lambda: False,
    ) -> None:
        self._holder = holder
        self._engine = engine
        self._writer = writer
        self._submitter = submitter
        self.clock = clock
        self._on_accepted = on_accepted
        self._on_status = on_status
        self._webhook_sources = webhook_sources
        self._in_maintenance = in_maintenance
        self._debug_limiter = FixedWindowLimiter(DEBUG_LIMIT_PER_MINUTE, 60, time.monotonic)

    @property
    def config(self) -> Config:
        return self._holder.current.config

    @property
    def directory(self) -> Directory:
        return self._holder.current.directory

    async def submit(
        self, app: App, request: SubmitRequest, remember: Remember | None = None
    ) -> list[RecipientResult]:
        """Check and store the messages of `request` (see Submitter.submit); the dispatcher
        is told there is new work. In maintenance mode nothing is taken (Result.MAINTENANCE)."""
        if self._in_maintenance():
            raise SubmitRefused(Result.MAINTENANCE, "sending is paused, try again later")
        results = await self._submitter.submit(app, request, remember)
        if any(result.message_id for result in results):
            self._on_accepted()
        return results

    async def cancel(self, app: App, message_id: str, sandbox: bool) -> tuple[Result, str | None]:
        """Cancel a message of `app` while nothing of it has been submitted."""

        def cancel(connection) -> tuple[Result, str | None]:
            current = message_store.get_message(connection, message_id)
            if current is None or current.application != app.name or current.sandbox != sandbox:
                return Result.MESSAGE_NOT_FOUND, None
            transitions = Transitions(self.directory, self.clock())
            transitions.ask(message_id, Status.CANCELLED)
            if not transitions.apply(connection):
                status = Status(current.status)
                if status is Status.CANCELLED:
                    return Result.ALREADY_CANCELLED, None
                return Result.NOT_CANCELLABLE, status.description
            return Result.OK, None

        result, detail = await self._writer.write(cancel)
        if result is Result.OK and self._on_status is not None:
            self._on_status(app.name, "", Status.CANCELLED, sandbox=sandbox)
        return result, detail

    async def message(self, app: App, message_id: str, sandbox: bool) -> Row | None:
        """The stored message `message_id` of `app` (in the sandbox or not), or None."""
        row = await self._read(lambda c: message_store.get_message(c, message_id))
        if row is None or row.application != app.name or row.sandbox != sandbox:
            return None
        return row

    async def poll(
        self, app: App, kind: str, sandbox: bool, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Hand out up to `limit` status or incoming records: (records, how many remain)."""
        now = self.clock()
        directory = self.directory

        def fetch(connection: Connection) -> tuple[list[dict[str, Any]], int]:
            rows, remaining = message_store.fetch_poll(
                connection, app.name, kind, sandbox, limit, now
            )
            carried = carried_records(connection, rows, directory)
            return [record for record in carried if record is not None], remaining

        return await self._writer.write(fetch)

    async def blacklisted(self, app: App, msisdn: str) -> bool:
        return bool(
            await self._read(
                lambda c: blacklist_store.blacklisted_among(c, app.account.name, [msisdn])
            )
        )

    async def add_fragment(self, fragment: dict[str, Any]) -> list[Row] | None:
        """Store one part of a segmented submission; all its parts once the set is whole.
        Refused in maintenance mode like `submit`: a part taken then would be lost when the
        client sends the set again."""
        if self._in_maintenance():
            raise SubmitRefused(Result.MAINTENANCE, "sending is paused, try again later")
        return await self._writer.write(lambda c: fragment_store.add_fragment(c, fragment))

    async def recall(self, app: App, key: str, since: datetime) -> Row | None:
        """The answer kept for `app`'s idempotency key `key`, if made since `since`."""
        return await self._read(lambda c: idempotency_store.recall(c, app.name, key, since))

    async def log_request(self, entry: dict[str, Any]) -> None:
        """Keep one request and its answer (debug mode)."""
        await self._writer.write(lambda c: request_logs.record(c, entry))

    async def count_debug_request(self, app: App) -> RateDecision:
        """Count one request of `app` (in debug mode) against its limit of 30 a minute, one
        count for all the processes that serve the API."""
        return self._debug_limiter.hit(app.name)

    async def debug_standing(self, app: App) -> RateDecision:
        """Where `app` stands against its debug-mode limit, without counting a request."""
        return self._debug_limiter.peek(app.name)

    async def readiness(self) -> dict[str, Any]:
        """Whether the core can store: {"status": "ready", ...} or {"status": "not ready",
        "reason": ...} (/readyz)."""
        with trio.move_on_after(READY_CHECK_TIMEOUT_S):
            try:
                await trio.to_thread.run_sync(
                    check_connection, self._engine, abandon_on_cancel=True
                )
            except DatabaseUnavailable as error:
                return {"status": "not ready", "reason": str(error)}
            return {"status": "ready", "config_generation": self._holder.current.generation}
        return {"status": "not ready", "reason": "database did not answer"}

    async def configuration(self) -> Config:
        """The configuration this process runs on (a worker process serves the same one)."""
        return self.config

    async def webhook_sources(self) -> dict[str, Any]:
        """The addresses webhooks are sent from, and those that cannot be used (and why)."""
        return self._webhook_sources()

    async def _read(self, read: Callable[[Any], Any]) -> Any:
        def run() -> Any:
            with self._engine.connect() as connection:
                return read(connection)

        return await trio.to_thread.run_sync(run)
