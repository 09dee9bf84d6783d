"""The `gatewayd` command line: run, check-config, migrate, hash-key, the operator tools and
the admin commands to the running daemon."""

import argparse
import getpass
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from gatewayd.cli_admin import add_admin_command
from gatewayd.cli_simulator import add_command as add_simulate_mo
from gatewayd.cli_tools import CommandFailed, add_commands
from gatewayd.config.errors import ConfigError
from gatewayd.config.loader import load_config
from gatewayd.config.secrets import hash_api_key

DEFAULT_CONFIG = Path("/etc/gatewayd/gatewayd.yaml")
CONFIG_VARIABLE = "GATEWAYD_CONFIG"
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
EXIT_BROKEN_PIPE = 128 + 13
"""As a shell reports a command that SIGPIPE ended (`gatewayd trace ... | head`)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    if args.config is not None and not args.config.is_file():
        print(
            f"gatewayd: {args.config}: no such configuration file "
            f"(give --config FILE or set {CONFIG_VARIABLE})",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    try:
        status = handler(args)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        return _reader_went_away()
    except ConfigError as error:
        for problem in error.problems:
            print(f"gatewayd: {args.config}: {problem}", file=sys.stderr)
        return EXIT_FAILURE
    except CommandFailed as error:
        print(f"gatewayd: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_FAILURE


def _reader_went_away() -> int:
    """The reader of our output closed it: stop quietly, as Unix tools do. What is still
    buffered goes nowhere, so that the interpreter's own last flush fails no more."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


def default_config() -> Path:
    """$GATEWAYD_CONFIG when set, else /etc/gatewayd/gatewayd.yaml."""
    return Path(os.environ.get(CONFIG_VARIABLE) or DEFAULT_CONFIG)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gatewayd", description="Carrier-facing SMS gateway daemon."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the daemon", description="Run the daemon.")
    _config_option(run)
    run.set_defaults(handler=_run)

    check = commands.add_parser(
        "check-config",
        help="validate a configuration file",
        description="Validate a configuration file; print every problem with its key path.",
    )
    check.add_argument(
        "config",
        type=Path,
        nargs="?",
        default=default_config(),
        help=f"the YAML file (default: ${CONFIG_VARIABLE}, else {DEFAULT_CONFIG})",
    )
    check.set_defaults(handler=_check_config)

    migrate = commands.add_parser(
        "migrate",
        help="bring the database schema up to date",
        description="Apply the database migrations (needed on PostgreSQL before the first run).",
    )
    _config_option(migrate)
    migrate.set_defaults(handler=_migrate)

    hash_key = commands.add_parser(
        "hash-key",
        help="print the sha256: form of an API key",
        description="Print the hashed form of an API key for the api_keys list. "
        "The key is read from standard input (or asked for on a terminal).",
    )
    hash_key.add_argument(
        "--generate", action="store_true", help="make a new random key and print it with its hash"
    )
    hash_key.set_defaults(handler=_hash_key, config=None)

    simulate = commands.add_parser(
        "simulate-smsc",
        help="run the built-in SMSC simulator",
        description="Run the SMSC simulator: it accepts binds, answers submit_sm, and sends "
        "delivery receipts, so gatewayd (or any ESME) can be tried without a carrier.",
    )
    simulate.add_argument(
        "--listen", default="127.0.0.1:2775", help="host:port (default %(default)s)"
    )
    simulate.add_argument("--system-id", help="accept only this system_id (default: any)")
    simulate.add_argument("--password", help="with --system-id: the password to require")
    simulate.add_argument("--receipt-delay", type=float, default=0.5, metavar="SECONDS")
    simulate.add_argument(
        "--delivered-ratio",
        type=float,
        default=1.0,
        metavar="0..1",
        help="share of receipts that say DELIVRD; the rest say UNDELIV",
    )
    simulate.add_argument("--hex-ids", action="store_true", help="answer with hexadecimal ids")
    simulate.add_argument(
        "--throttle-every",
        type=int,
        default=0,
        metavar="N",
        help="answer every Nth submit_sm with ESME_RTHROTTLED",
    )
    simulate.add_argument(
        "--drop-every",
        type=int,
        default=0,
        metavar="N",
        help="drop the connection at every Nth submit_sm",
    )
    simulate.set_defaults(handler=_simulate_smsc, config=None)
    add_commands(commands, _config_option)
    add_simulate_mo(commands, _config_option)
    add_admin_command(commands, _config_option)
    return parser


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        "-c",
        type=Path,
        default=default_config(),
        help=f"configuration file (default: ${CONFIG_VARIABLE}, else {DEFAULT_CONFIG})",
    )


def _check_config(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    applications = sum(len(account.applications) for account in config.accounts)
    print(
        f"{args.config}: ok ({len(config.accounts)} accounts, {applications} applications, "
        f"{len(config.carriers)} carriers, {len(config.routes)} routes)"
    )
    return EXIT_OK


def _migrate(args: argparse.Namespace) -> int:
    from gatewayd.storage.engine import DatabaseUnavailable, check_connection, open_engine
    from gatewayd.storage.migrate import current_revision, upgrade

    config = load_config(args.config)
    engine = open_engine(config.database)
    try:
        check_connection(engine)
        upgrade(engine)
        print(f"database schema at revision {current_revision(engine)}")
    except DatabaseUnavailable as error:
        print(f"gatewayd: {error}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        engine.dispose()
    return EXIT_OK


def _hash_key(args: argparse.Namespace) -> int:
    if args.generate:
        key = secrets.token_urlsafe(32)
        print(f"key:  {key}")
        print(f"hash: {hash_api_key(key)}")
        return EXIT_OK
    key = getpass.getpass("API key: ") if sys.stdin.isatty() else sys.stdin.readline()
    key = key.strip()
    if len(key) < 8:
        print("gatewayd: an API key has at least 8 characters", file=sys.stderr)
        return EXIT_USAGE
    print(hash_api_key(key))
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from gatewayd.daemon import run

    return run(args.config)


def _simulate_smsc(args: argparse.Namespace) -> int:
    import logging

    import trio

    from gatewayd.config.types import parse_listen
    from gatewayd.protocols.smpp.simulator import Simulator, SimulatorSettings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    host, port = parse_listen(args.listen)
    simulator = Simulator(
        SimulatorSettings(
            system_id=args.system_id,
            password=args.password,
            receipt_delay_s=args.receipt_delay,
            delivered_ratio=args.delivered_ratio,
            hex_ids=args.hex_ids,
            throttle_every=args.throttle_every,
            drop_every=args.drop_every,
        )
    )
    try:
        trio.run(simulator.serve, host, port)
    except OSError as error:
        print(f"gatewayd: cannot listen on {args.listen}: {error.strerror}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK
