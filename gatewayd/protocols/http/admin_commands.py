"""Admin commands on the running daemon (`gatewayd admin ...` calls them): suspend and resume
a carrier, stop and start a bind, the webhook backlog and its retry, requeue and cancel one
message, reload, maintenance mode, and the audit of all of these.

Every command that changes something is logged (one line, its fields as attributes for the
JSON log format) and recorded in the audit table with the name of the admin token that gave
it. Reads (lists, backlog, audit) are not audited.
"""

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import trio

from gatewayd.core.requeue import NotRequeueable, requeue
from gatewayd.core.result_codes import Result
from gatewayd.core.webhook_backlog import webhook_backlog
from gatewayd.protocols.http.admin_auth import admin_token_name
from gatewayd.protocols.http.api_fields import FieldError, int_field, read_fields, text_field
from gatewayd.protocols.http.messages import Request, Response
from gatewayd.protocols.http.routing import Router
from gatewayd.protocols.smpp.client import Carrier
from gatewayd.storage import audit
from gatewayd.storage import messages as message_store
from gatewayd.storage import webhook_backlog as backlog_store

if TYPE_CHECKING:
    from gatewayd.daemon import Runtime

log = logging.getLogger("gatewayd.admin")

Command = Callable[[Request, str], Awaitable[tuple[Response, str | None, str]]]
"""(request, token name) -> (answer, what it acted on, its outcome in a few words)."""


class AdminCommands:
    def __init__(self, runtime: "Runtime") -> None:
        self.runtime = runtime

    def add_routes(self, router: Router) -> None:
        read, act = self._read, self._command
        carrier = "/admin/carriers/{carrier}"
        router.add("/admin/carriers", ["GET"], read(self.carriers))
        router.add(f"{carrier}/suspend", ["POST"], act("suspend", self.suspend))
        router.add(f"{carrier}/resume", ["POST"], act("resume", self.resume))
        router.add("/admin/binds", ["GET"], read(self.binds))
        router.add(f"{carrier}/binds/{{index}}/stop", ["POST"], act("bind-stop", self.bind_stop))
        router.add(f"{carrier}/binds/{{index}}/start", ["POST"], act("bind-start", self.bind_start))
        router.add("/admin/webhooks/backlog", ["GET"], read(self.backlog))
        router.add("/admin/webhooks/retry", ["POST"], act("webhooks-retry", self.retry))
        router.add("/admin/messages/{id}/requeue", ["POST"], act("requeue", self.requeue))
        router.add("/admin/messages/{id}/cancel", ["POST"], act("cancel", self.cancel))
        router.add("/admin/reload", ["POST"], act("reload", self.reload))
        router.add("/admin/maintenance", ["GET"], read(self.maintenance))
        router.add("/admin/maintenance/on", ["POST"], act("maintenance-on", self.maintenance_on))
        router.add("/admin/maintenance/off", ["POST"], act("maintenance-off", self.maintenance_off))
        router.add("/admin/audit", ["GET"], read(self.audit))

    def _who(self, request: Request) -> str:
        who = admin_token_name(self.runtime.holder.current.config, request)
        if who is None:
            raise FieldError(Result.INVALID_API_KEY, "admin token required", status=401)
        return who

    def _read(self, handler: Callable[[Request], Awaitable[Response]]):
        async def guarded(request: Request) -> Response:
            try:
                self._who(request)
                return await handler(request)
            except FieldError as error:
                return Response.error(error.status, error.result, error.detail)

        return guarded

    def _command(self, name: str, handler: Command):
        async def guarded(request: Request) -> Response:
            try:
                who = self._who(request)
            except FieldError as error:
                return Response.error(error.status, error.result, error.detail)
            target = request.params.get("carrier") or request.params.get("id")
            try:
                response, target, outcome = await handler(request, who)
            except FieldError as error:
                response = Response.error(error.status, error.result, error.detail)
                outcome = f"refused: {error.detail or error.result.description}"
            await self._audit(who, name, target, outcome)
            return response

        return guarded

    async def _audit(self, who: str, command: str, target: str | None, outcome: str) -> None:
        log.info(
            "admin %s %s by %s: %s",
            command,
            target or "-",
            who,
            outcome,
            extra={"admin_token": who, "command": command, "target": target, "outcome": outcome},
        )
        now = self.runtime.clock()
        await self.runtime.writer.write(
            lambda c: audit.record(c, now, who, command, target, outcome), urgent=False
        )

    def _carrier(self, request: Request) -> Carrier:
        name = request.params["carrier"]
        found = self._pool.get(name)
        if found is None:
            known = ", ".join(sorted(self._pool.carriers)) or "none"
            raise FieldError(Result.NOT_FOUND, f"no carrier {name!r} (carriers: {known})")
        return found[0]

    @property
    def _pool(self):
        assert self.runtime.carriers is not None, "the carriers run before the admin API serves"
        return self.runtime.carriers

    @property
    def _switches(self):
        assert self.runtime.switches is not None, "the switches run before the admin API serves"
        return self.runtime.switches

    async def carriers(self, _request: Request) -> Response:
        """The running carriers, and suspended ones the configuration no longer has (so that
        they can be resumed)."""
        suspended = self._switches.state.suspended
        answer = []
        for name in sorted(set(self._pool.carriers) | set(suspended)):
            switch = suspended.get(name)
            carrier = self._pool.carriers.get(name)
            answer.append(
                {
                    "name": name,
                    "configured": carrier is not None,
                    "suspended": switch is not None,
                    "suspended_by": switch.by if switch else None,
                    "suspended_since": _iso(switch.since) if switch else None,
                    "binds": _binds(carrier) if carrier is not None else [],
                }
            )
        return Response.json({"carriers": answer})

    async def suspend(self, request: Request, who: str) -> tuple[Response, str | None, str]:
        carrier = self._carrier(request)
        changed = await self._switches.suspend(carrier.settings.name, who)
        outcome = "suspended" if changed else "already suspended"
        return _done(carrier.settings.name, outcome, suspended=True)

    async def resume(self, request: Request, _who: str) -> tuple[Response, str | None, str]:
        name = request.params["carrier"]
        if name not in self._switches.state.suspended:
            name = self._carrier(request).settings.name
        changed = await self._switches.resume(name)
        if changed and self.runtime.dispatcher is not None:
            self.runtime.dispatcher.wake()
        outcome = "resumed" if changed else "was not suspended"
        return _done(name, outcome, suspended=False)

    async def binds(self, _request: Request) -> Response:
        listed = [
            {"carrier": name, **bind}
            for name, carrier in sorted(self._pool.carriers.items())
            for bind in _binds(carrier)
        ]
        return Response.json({"binds": listed})

    def _bind_index(self, request: Request, carrier: Carrier) -> int:
        text = request.params["index"]
        if not text.isdigit() or int(text) >= len(carrier.binds):
            raise FieldError(
                Result.NOT_FOUND,
                f"{carrier.settings.name} has no bind {text!r} (binds 0-{len(carrier.binds) - 1})",
            )
        return int(text)

    async def bind_stop(self, request: Request, _who: str) -> tuple[Response, str | None, str]:
        carrier = self._carrier(request)
        index = self._bind_index(request, carrier)
        outcome = "stopped" if carrier.stop_bind(index) else "already stopped"
        return _done(carrier.binds[index].name, outcome, stopped=True)

    async def bind_start(self, request: Request, _who: str) -> tuple[Response, str | None, str]:
        carrier = self._carrier(request)
        index = self._bind_index(request, carrier)
        outcome = "started" if carrier.start_bind(index) else "was not stopped"
        return _done(carrier.binds[index].name, outcome, stopped=False)

    async def backlog(self, _request: Request) -> Response:
        now = self.runtime.clock()
        entries = await self._query(lambda c: webhook_backlog(c, now))
        return Response.json({"backlog": entries})

    async def retry(self, request: Request, _who: str) -> tuple[Response, str | None, str]:
        application = text_field(read_fields(request, {"application"}), "application", 64)
        if application is not None and application not in self._directory.by_name:
            raise FieldError(Result.NOT_FOUND, f"no application {application!r}")
        now = self.runtime.clock()
        count = await self.runtime.writer.write(
            lambda c: backlog_store.retry_now(c, now, application)
        )
        answer = Response.json({"application": application, "due_now": count})
        return answer, application, f"{count} jobs due now"

    async def requeue(self, request: Request, _who: str) -> tuple[Response, str | None, str]:
        message_id = request.params["id"]
        now = self.runtime.clock()
        directory = self._directory
        try:
            await self.runtime.writer.write(lambda c: requeue(c, directory, message_id, now))
        except NotRequeueable as refused:
            result = Result.MESSAGE_NOT_FOUND if refused.missing else Result.NOT_CANCELLABLE
            raise FieldError(result, str(refused)) from None
        if self.runtime.dispatcher is not None:
            self.runtime.dispatcher.wake()
        return _done(message_id, "queued again", status=10)

    async def cancel(self, request: Request, _who: str) -> tuple[Response, str | None, str]:
        """The Message API's Cancel, for any application's message."""
        message_id = request.params["id"]
        row = await self._query(lambda c: message_store.get_message(c, message_id))
        app = self._directory.by_name.get(row.application) if row is not None else None
        if row is None or app is None:
            raise FieldError(Result.MESSAGE_NOT_FOUND, "no such message")
        assert self.runtime.service is not None, "the core's service is built before the doors"
        result, detail = await self.runtime.service.cancel(app, message_id, row.sandbox)
        if result is not Result.OK:
            raise FieldError(result, detail)
        return _done(message_id, "cancelled", status=803)

    async def reload(self, _request: Request, _who: str) -> tuple[Response, str | None, str]:
        if not await self.runtime.reload():
            raise FieldError(
                Result.INVALID_FIELD,
                "the configuration file was refused (its problems are in the daemon's log); "
                "the running one stays",
            )
        generation = self.runtime.holder.current.generation
        answer = Response.json({"reloaded": True, "config_generation": generation})
        return answer, None, f"reloaded (generation {generation})"

    async def maintenance(self, _request: Request) -> Response:
        return Response.json(self._maintenance_state())

    async def maintenance_on(self, _request: Request, who: str) -> tuple[Response, None, str]:
        changed = await self._switches.set_maintenance(True, who)
        answer = Response.json(self._maintenance_state())
        return answer, None, "on" if changed else "already on"

    async def maintenance_off(self, _request: Request, who: str) -> tuple[Response, None, str]:
        changed = await self._switches.set_maintenance(False, who)
        answer = Response.json(self._maintenance_state())
        outcome = "off" if changed else "was not on"
        if self.runtime.holder.current.config.maintenance:
            outcome += "; still on by the configuration (maintenance: true)"
        return answer, None, outcome

    def _maintenance_state(self) -> dict[str, Any]:
        switch = self._switches.state.maintenance
        return {
            "maintenance": self._switches.maintenance,
            "by_config": self.runtime.holder.current.config.maintenance,
            "set_by": switch.by if switch else None,
            "since": _iso(switch.since) if switch else None,
        }

    async def audit(self, request: Request) -> Response:
        limit = int_field(read_fields(request, {"limit"}), "limit", 50, 1, 10_000)
        entries = await self._query(lambda c: audit.recent(c, limit))
        for entry in entries:
            entry["time_created"] = _iso(entry["time_created"])
        return Response.json({"audit": entries})

    @property
    def _directory(self):
        return self.runtime.holder.current.directory

    async def _query(self, query):
        def run():
            with self.runtime.engine.connect() as connection:
                return query(connection)

        return await trio.to_thread.run_sync(run)


def _binds(carrier: Carrier) -> list[dict[str, Any]]:
    return [
        {
            "index": index,
            "name": bind.name,
            "state": bind.state,
            "stopped": bind.stopped,
            "in_flight": bind.in_flight,
        }
        for index, bind in enumerate(carrier.binds)
    ]


def _done(target: str, outcome: str, **state: Any) -> tuple[Response, str, str]:
    return Response.json({"target": target, "outcome": outcome, **state}), target, outcome


def _iso(moment: datetime) -> str:
    return moment.isoformat()
