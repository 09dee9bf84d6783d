"""Operator commands that read or change the database directly: blacklist, logs, stats.

They work whether or not the daemon runs (SQLite in WAL mode and PostgreSQL both allow it).
"""

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from gatewayd.cli_trace import add_trace_command
from gatewayd.config.loader import load_config
from gatewayd.config.schema import Config
from gatewayd.core.directory import Directory
from gatewayd.core.quotas import remaining_quotas
from gatewayd.core.recipients import check_recipient
from gatewayd.protocols.http.admin_api import blacklist_as_csv
from gatewayd.storage import blacklist as blacklist_store
from gatewayd.storage import request_logs, stats
from gatewayd.storage.engine import (
    WRITES,
    DatabaseUnavailable,
    check_connection,
    normalized_url,
    open_engine,
)
from gatewayd.storage.migrate import current_revision


class CommandFailed(Exception):
    """The command cannot do what was asked; the message is one line for the operator."""


def add_commands(commands, config_option) -> None:
    blacklist = commands.add_parser(
        "blacklist",
        help="list, add, remove or export blacklist entries",
        description="The blacklist of an account (numbers that are never sent to).",
    )
    actions = blacklist.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in [
        ("list", "print the entries"),
        ("export", "print them as CSV"),
        ("add", "add a number"),
        ("remove", "remove a number"),
    ]:
        sub = actions.add_parser(action, help=text, description=text.capitalize() + ".")
        config_option(sub)
        sub.add_argument("--account", required=True)
        if action in ("add", "remove"):
            sub.add_argument("msisdn", help="international format, digits only")
        if action == "add":
            sub.add_argument("--note", help="why (kept with the entry)")
        sub.set_defaults(handler=_blacklist)

    logs = commands.add_parser(
        "logs",
        help="print an application's debug-mode request logs",
        description="Requests and answers logged while the account is in debug mode.",
    )
    config_option(logs)
    logs.add_argument("--application", required=True)
    logs.add_argument("--limit", type=int, default=20)
    logs.set_defaults(handler=_logs)

    report = commands.add_parser(
        "stats",
        help="print an application's messages by day and status, and its quotas left",
        description=(
            "Messages by day (UTC) and status for one application, and what is left of "
            "each of its quotas."
        ),
    )
    config_option(report)
    report.add_argument("--application", required=True)
    report.add_argument("--days", type=int, default=30)
    report.set_defaults(handler=_stats)
    add_trace_command(commands, config_option)


def _engine(args: argparse.Namespace) -> Engine:
    """The configured database, refused in one line when it is absent or never migrated."""
    config = load_config(args.config)
    _check_names(args, config)
    url = make_url(normalized_url(config.database.url))
    database = url.database or ":memory:"
    on_file = url.get_backend_name() == "sqlite" and database != ":memory:"
    if on_file and not Path(database).exists():
        raise CommandFailed(f"no database at {database}: run `gatewayd migrate`")
    engine = open_engine(config.database)
    try:
        check_connection(engine)
        if current_revision(engine) is None:
            raise CommandFailed("the database has no gatewayd schema: run `gatewayd migrate`")
    except DatabaseUnavailable as error:
        engine.dispose()
        raise CommandFailed(str(error)) from None
    except CommandFailed:
        engine.dispose()
        raise
    return engine


def _check_names(args: argparse.Namespace, config: Config) -> None:
    """An --account or --application the configuration does not have is a mistake."""
    account = getattr(args, "account", None)
    if account is not None and all(a.name != account for a in config.accounts):
        known = ", ".join(a.name for a in config.accounts) or "none"
        raise CommandFailed(f"no account {account!r} in {args.config} (accounts: {known})")
    application = getattr(args, "application", None)
    names = [app.name for a in config.accounts for app in a.applications]
    if application is not None and application not in names:
        known = ", ".join(names) or "none"
        raise CommandFailed(
            f"no application {application!r} in {args.config} (applications: {known})"
        )


def _blacklist(args: argparse.Namespace) -> int:
    engine = _engine(args)
    now = datetime.now(UTC)
    try:
        if args.action in ("list", "export"):
            with engine.connect() as connection:
                entries = blacklist_store.entries(connection, args.account)
            if args.action == "export":
                sys.stdout.write(blacklist_as_csv(entries))
            for entry in entries if args.action == "list" else []:
                note = f"  {entry['note']}" if entry["note"] else ""
                print(
                    f"{entry['msisdn']}  {entry['source']:5}  "
                    f"{entry['time_created']:%Y-%m-%d %H:%M}{note}"
                )
            return 0
        recipient = check_recipient(args.msisdn)
        if not recipient.valid and args.action == "add":
            print(f"gatewayd: {args.msisdn}: {recipient.problem}", file=sys.stderr)
            return 1
        with engine.execution_options(**{WRITES: True}).begin() as connection:
            if args.action == "add":
                done = blacklist_store.add(
                    connection, args.account, recipient.msisdn, "cli", now, args.note
                )
            else:
                done = blacklist_store.remove(connection, args.account, recipient.msisdn)
        verb = {"add": ("added", "already listed"), "remove": ("removed", "was not listed")}
        print(f"{recipient.msisdn}: {verb[args.action][0 if done else 1]}")
        return 0
    finally:
        engine.dispose()


def _logs(args: argparse.Namespace) -> int:
    engine = _engine(args)
    try:
        with engine.connect() as connection:
            entries = request_logs.recent(connection, args.application, args.limit)
    finally:
        engine.dispose()
    for entry in reversed(entries):
        print(
            f"{entry['time_created']:%Y-%m-%d %H:%M:%S} {entry['client_ip']} "
            f"{entry['method']} {entry['path']} -> {entry['status_code']} "
            f"({entry['duration_ms']} ms)"
        )
        print(f"  request:  {entry['request_body']}")
        print(f"  response: {entry['response_body']}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    engine = _engine(args)
    app = Directory(load_config(args.config)).by_name[args.application]
    now = datetime.now(UTC)
    since = now - timedelta(days=args.days)
    try:
        with engine.connect() as connection:
            days = stats.daily_counts(connection, args.application, since)
            quotas = remaining_quotas(connection, app, now)
    finally:
        engine.dispose()
    for day in days:
        print(f"{day['day']}  total {day['total']:>7}  {json.dumps(day['statuses'])}")
    for quota in quotas:
        resets = f", resets {quota['resets']}" if quota["resets"] else ""
        print(
            f"quota {quota['owner']} {quota['name']} {quota['unit']} per {quota['period']}: "
            f"{quota['remaining']} of {quota['limit']} left{resets}"
        )
    return 0
