"""`gatewayd admin ...`: commands to the running daemon, through its admin API.

The address and the token come from the configuration file (`admin.listen`, its first
address; `admin.token`, or the token named by --as among `admin.tokens`). Each command is
one request; its answer is printed in a few lines (or as the API's JSON with --json). A
daemon that is not running, or that refuses, is one line on standard error and exit status 1.
"""

import argparse
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from gatewayd.cli_tools import CommandFailed
from gatewayd.config.loader import load_config
from gatewayd.config.types import parse_listen

TIMEOUT_S = 30.0
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def add_admin_command(commands, config_option) -> None:
    admin = commands.add_parser(
        "admin",
        help="commands to the running daemon (suspend a carrier, maintenance, ...)",
        description="Commands to the running daemon through its admin API.",
    )
    actions = admin.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(
        name: str, text: str, show: Callable[[dict], list[str]], request
    ) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        config_option(sub)
        sub.add_argument("--as", dest="token_name", metavar="NAME", help="the admin token to use")
        sub.add_argument("--json", action="store_true", help="print the admin API's JSON")
        sub.set_defaults(handler=lambda args: _run(args, request(args), show))
        return sub

    action(
        "carriers",
        "list carriers, suspended or not, with their binds",
        _carriers,
        _get(lambda a: "/admin/carriers"),
    )
    for verb, text in (
        ("suspend", "submit nothing new to a carrier (its binds stay up)"),
        ("resume", "submit to a suspended carrier again"),
    ):
        sub = action(
            verb,
            text,
            _outcome,
            _post(lambda a, verb=verb: f"/admin/carriers/{quote(a.carrier)}/{verb}"),
        )
        sub.add_argument("carrier")
    action("binds", "list every bind and its state", _binds, _get(lambda a: "/admin/binds"))
    sub = action(
        "bind",
        "stop a bind (unbind, stay down until started or restart) or start it again",
        _outcome,
        _post(lambda a: f"/admin/carriers/{quote(a.carrier)}/binds/{a.index}/{a.verb}"),
    )
    sub.add_argument("verb", choices=["stop", "start"])
    sub.add_argument("carrier")
    sub.add_argument("index", type=int, help="the bind's index, as `gatewayd admin binds` shows")
    sub = action(
        "webhooks",
        "show the webhook backlog, or (retry) make the jobs waiting for a retry due now",
        _webhooks,
        lambda a: (
            ("POST", "/admin/webhooks/retry", {"application": a.application})
            if a.verb == "retry"
            else ("GET", "/admin/webhooks/backlog", None)
        ),
    )
    sub.add_argument("verb", nargs="?", choices=["backlog", "retry"], default="backlog")
    sub.add_argument("--application", help="with retry: only this application's jobs")
    for verb, text in (
        ("requeue", "submit a Rejected or Expired message again (if it never reached a carrier)"),
        ("cancel", "cancel a message not submitted yet (as the Message API's Cancel)"),
    ):
        sub = action(
            verb,
            text,
            _outcome,
            _post(lambda a, verb=verb: f"/admin/messages/{quote(a.id)}/{verb}"),
        )
        sub.add_argument("id", metavar="MESSAGE_ID")
    action(
        "reload",
        "load the configuration file again (as SIGHUP)",
        _reload,
        _post(lambda a: "/admin/reload"),
    )
    sub = action(
        "maintenance",
        "show maintenance mode, or switch it on or off",
        _maintenance,
        lambda a: (
            ("GET", "/admin/maintenance", None)
            if a.verb is None
            else ("POST", f"/admin/maintenance/{a.verb}", None)
        ),
    )
    sub.add_argument("verb", nargs="?", choices=["on", "off"])
    sub = action(
        "audit",
        "list the admin commands given, newest first",
        _audit,
        lambda a: ("GET", "/admin/audit", {"limit": a.limit}),
    )
    sub.add_argument("--limit", type=int, default=20)


Request = tuple[str, str, dict[str, Any] | None]


def _get(path: Callable[[argparse.Namespace], str]) -> Callable[[argparse.Namespace], Request]:
    return lambda args: ("GET", path(args), None)


def _post(path: Callable[[argparse.Namespace], str]) -> Callable[[argparse.Namespace], Request]:
    return lambda args: ("POST", path(args), None)


def _run(args: argparse.Namespace, request: Request, show: Callable[[dict], list[str]]) -> int:
    base, token = _address_and_token(args)
    method, path, fields = request
    fields = {k: v for k, v in (fields or {}).items() if v is not None}
    try:
        response = httpx.request(
            method,
            base + path,
            headers={"Authorization": f"Bearer {token}"},
            params=fields if method == "GET" else None,
            json=fields if method == "POST" else None,
            timeout=TIMEOUT_S,
        )
    except httpx.TransportError as error:
        raise CommandFailed(
            f"the admin API at {base} does not answer (is the daemon running?): {error}"
        ) from None
    try:
        answer = response.json()
    except ValueError:
        raise CommandFailed(f"the admin API at {base} answered {response.status_code}") from None
    if response.status_code >= 400:
        detail = answer.get("ResultDescription", response.reason_phrase)
        raise CommandFailed(f"refused ({response.status_code}): {detail}")
    lines = [json.dumps(answer, indent=2, ensure_ascii=False)] if args.json else show(answer)
    for line in lines:
        print(line)
    return 0


def _address_and_token(args: argparse.Namespace) -> tuple[str, str]:
    config = load_config(args.config)
    admin = config.admin
    if admin is None or not admin.listen:
        raise CommandFailed(f"{args.config} has no admin section: the daemon has no admin API")
    tokens = {named.name: named.token for named in admin.named_tokens}
    if not tokens:
        raise CommandFailed(f"{args.config} has no admin token (admin.token or admin.tokens)")
    name = args.token_name or next(iter(tokens))
    if name not in tokens:
        raise CommandFailed(f"no admin token named {name!r} (tokens: {', '.join(tokens)})")
    host, port = parse_listen(str(admin.listen[0]))
    host = _WILDCARDS.get(host, host)
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}", tokens[name].get_secret_value()


def _outcome(answer: dict) -> list[str]:
    return [f"{answer['target']}: {answer['outcome']}"]


def _carriers(answer: dict) -> list[str]:
    lines = []
    for carrier in answer["carriers"]:
        state = (
            f"suspended by {carrier['suspended_by']} since {carrier['suspended_since'][:19]}"
            if carrier["suspended"]
            else "in service"
        )
        binds = ", ".join(f"{b['name']} {b['state']}" for b in carrier["binds"])
        if not carrier["configured"]:
            binds = "not in the configuration"
        lines.append(f"{carrier['name']}  {state}  ({binds})")
    return lines


def _binds(answer: dict) -> list[str]:
    return [
        f"{b['carrier']}  {b['index']}  {b['name']}  {b['state']}  in flight {b['in_flight']}"
        for b in answer["binds"]
    ]


def _webhooks(answer: dict) -> list[str]:
    if "due_now" in answer:
        return [f"{answer['due_now']} webhook jobs due now"]
    if not answer["backlog"]:
        return ["no webhook backlog"]
    return [
        f"{e['application']}  {e['host']}  pending {e['pending']}  oldest {e['oldest_age_s']:.0f}s"
        + (f"  last error: {e['last_error']}" if e["last_error"] else "")
        for e in answer["backlog"]
    ]


def _reload(answer: dict) -> list[str]:
    return [f"configuration reloaded (generation {answer['config_generation']})"]


def _maintenance(answer: dict) -> list[str]:
    if not answer["maintenance"]:
        return ["maintenance off"]
    if answer["set_by"]:
        return [f"maintenance on, set by {answer['set_by']} since {answer['since'][:19]}"]
    return ["maintenance on, by the configuration (maintenance: true)"]


def _audit(answer: dict) -> list[str]:
    return [
        f"{e['time_created'][:19]}  {e['token_name']}  {e['command']}  {e['target'] or '-'}  "
        f"{e['outcome']}"
        for e in answer["audit"]
    ]
