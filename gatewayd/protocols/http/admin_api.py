"""The admin API (its own listener, loopback by default): request logs of debug mode,
statistics, the blacklist, the trace of a message and the live status page (the commands
that change the running daemon are in admin_commands.py). Every request needs one of
`admin.token` and `admin.tokens`, as `Authorization: Bearer <token>` or as the password of
HTTP Basic authentication, which browsers send (see admin_auth); without a configured token
the admin API refuses everything but /metrics and health."""

import csv
import io
from datetime import timedelta
from typing import TYPE_CHECKING

import trio

from gatewayd.core.quotas import remaining_quotas
from gatewayd.core.recipients import check_recipient
from gatewayd.core.result_codes import Result
from gatewayd.core.trace import trace_incoming, trace_messages
from gatewayd.protocols.http.admin_auth import CHALLENGE, admin_token_accepted
from gatewayd.protocols.http.api_fields import FieldError, int_field, read_fields, text_field
from gatewayd.protocols.http.messages import Request, Response
from gatewayd.protocols.http.routing import Router
from gatewayd.protocols.http.status_page import CONTENT_SECURITY_POLICY, status_page
from gatewayd.storage import blacklist as blacklist_store
from gatewayd.storage import request_logs, stats

if TYPE_CHECKING:
    from gatewayd.daemon import Runtime

HTML = "text/html; charset=utf-8"


class AdminApi:
    def __init__(self, runtime: "Runtime") -> None:
        self.runtime = runtime

    def add_routes(self, router: Router) -> None:
        router.add("/admin/status", ["GET"], self._guard(self.status_page))
        router.add("/admin/status.json", ["GET"], self._guard(self.status_json))
        router.add("/admin/applications/{application}/logs", ["GET"], self._guard(self.logs))
        router.add("/admin/applications/{application}/stats", ["GET"], self._guard(self.stats))
        router.add("/admin/trace", ["GET"], self._guard(self.trace))
        router.add(
            "/admin/accounts/{account}/blacklist", ["GET", "POST"], self._guard(self.blacklist)
        )
        router.add(
            "/admin/accounts/{account}/blacklist.csv", ["GET"], self._guard(self.blacklist_csv)
        )
        router.add(
            "/admin/accounts/{account}/blacklist/{msisdn}",
            ["DELETE"],
            self._guard(self.unblacklist),
        )

    def _guard(self, handler):
        async def guarded(request: Request) -> Response:
            if not admin_token_accepted(self.runtime.holder.current.config, request):
                return Response.error(
                    401, Result.INVALID_API_KEY, "admin token required", [CHALLENGE]
                )
            try:
                return await handler(request)
            except FieldError as error:
                return Response.error(error.status, error.result, error.detail)

        return guarded

    def _application(self, request: Request) -> str:
        name = request.params["application"]
        if name not in self.runtime.holder.current.directory.by_name:
            raise FieldError(Result.NOT_FOUND, f"no application {name!r}")
        return name

    def _account(self, request: Request) -> str:
        name = request.params["account"]
        if all(a.name != name for a in self.runtime.holder.current.config.accounts):
            raise FieldError(Result.NOT_FOUND, f"no account {name!r}")
        return name

    async def _read(self, query):
        def run():
            with self.runtime.engine.connect() as connection:
                return query(connection)

        return await trio.to_thread.run_sync(run)

    async def status_json(self, _request: Request) -> Response:
        return Response.json(await self._status())

    async def status_page(self, _request: Request) -> Response:
        page = Response.text(status_page(await self._status()), content_type=HTML)
        page.headers += [
            ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
            ("Cache-Control", "no-store"),
        ]
        return page

    async def _status(self) -> dict:
        assert self.runtime.status is not None, "the core's status report is built at start"
        return await self.runtime.status.report()

    async def logs(self, request: Request) -> Response:
        application = self._application(request)
        limit = int_field(read_fields(request, {"limit"}), "limit", 100, 1, 10_000)
        entries = await self._read(lambda c: request_logs.recent(c, application, limit))
        for entry in entries:
            entry["time_created"] = entry["time_created"].isoformat()
        return Response.json({"application": application, "logs": entries})

    async def stats(self, request: Request) -> Response:
        application = self._application(request)
        days = int_field(read_fields(request, {"days"}), "days", 30, 1, 3660)
        since = self.runtime.clock() - timedelta(days=days)
        app = self.runtime.holder.current.directory.by_name[application]
        now = self.runtime.clock()

        def read(connection):
            return stats.daily_counts(connection, application, since), remaining_quotas(
                connection, app, now
            )

        counts, quotas = await self._read(read)
        return Response.json({"application": application, "days": counts, "quotas": quotas})

    async def trace(self, request: Request) -> Response:
        """Every event of the messages with one id, reference or recipient (`to`), and of the
        incoming messages with that id or sender (`from`)."""
        fields = read_fields(request, {"id", "reference", "to", "from", "limit"})
        names = ("id", "reference", "to", "from")
        given = {name: text_field(fields, name, 255) for name in names}
        given = {name: value for name, value in given.items() if value is not None}
        if len(given) != 1:
            raise FieldError(Result.MISSING_FIELD, "give exactly one of id, reference, to, from")
        limit = int_field(fields, "limit", 20, 1, 1000)
        to, sender = (_msisdn(given.get(name)) for name in ("to", "from"))
        message_id, reference = given.get("id"), given.get("reference")

        def read(connection) -> dict:
            found = {"messages": [], "incoming": []}
            if sender is None:
                found["messages"] = trace_messages(connection, message_id, reference, to, limit)
            if reference is None and to is None:
                found["incoming"] = trace_incoming(connection, message_id, sender, limit)
            return found

        traces = await self._read(read)
        if not traces["messages"] and not traces["incoming"]:
            raise FieldError(Result.MESSAGE_NOT_FOUND, "no such message", status=404)
        return Response.json(traces)

    async def blacklist(self, request: Request) -> Response:
        account = self._account(request)
        if request.method == "GET":
            entries = await self._read(lambda c: blacklist_store.entries(c, account))
            return Response.json({"account": account, "entries": [_entry(e) for e in entries]})
        fields = read_fields(request, {"msisdn", "note"})
        recipient = check_recipient(text_field(fields, "msisdn", 20) or "")
        if not recipient.valid:
            raise FieldError(Result.INVALID_NUMBER, recipient.problem)
        note = text_field(fields, "note", 255)
        now = self.runtime.clock()
        added = await self.runtime.writer.write(
            lambda c: blacklist_store.add(c, account, recipient.msisdn, "admin", now, note)
        )
        return Response.json({"msisdn": recipient.msisdn, "added": added}, 201 if added else 200)

    async def unblacklist(self, request: Request) -> Response:
        account = self._account(request)
        msisdn = request.params["msisdn"]
        removed = await self.runtime.writer.write(
            lambda c: blacklist_store.remove(c, account, msisdn)
        )
        if not removed:
            raise FieldError(Result.NOT_FOUND, f"{msisdn} is not on the blacklist")
        return Response.json({"msisdn": msisdn, "removed": True})

    async def blacklist_csv(self, request: Request) -> Response:
        account = self._account(request)
        entries = await self._read(lambda c: blacklist_store.entries(c, account))
        return Response.text(blacklist_as_csv(entries), content_type="text/csv; charset=utf-8")


def blacklist_as_csv(entries: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["msisdn", "source", "note", "time_created"])
    for entry in entries:
        writer.writerow(
            [
                entry["msisdn"],
                entry["source"],
                entry["note"] or "",
                entry["time_created"].isoformat(),
            ]
        )
    return out.getvalue()


def _entry(entry: dict) -> dict:
    return {**entry, "time_created": entry["time_created"].isoformat()}


def _msisdn(given: str | None) -> str | None:
    """A number as stored (international, digits only) when it is a valid one."""
    if given is not None and check_recipient(given).valid:
        return check_recipient(given).msisdn
    return given
