"""`gatewayd simulate-mo`: a handset texts gatewayd through a built-in simulator carrier.

It asks the running daemon's admin API (POST /simulator/{carrier}/mo), so the message takes
the way a real one takes: deliver_sm from the SMSC, stored, routed, STOP/START applied.
"""

import argparse
import json
import urllib.error
import urllib.request

from gatewayd.cli_tools import CommandFailed
from gatewayd.config.loader import load_config
from gatewayd.config.schema import Config
from gatewayd.config.types import parse_listen

ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def add_command(commands, config_option) -> None:
    simulate = commands.add_parser(
        "simulate-mo",
        help="send gatewayd an incoming SMS through a built-in simulator carrier",
        description="Make a carrier with `simulator:` set deliver a mobile-originated message "
        "to the running daemon (through its admin API), as a handset would: it reaches the "
        "application owning --to, and STOP/START change the account's blacklist.",
    )
    config_option(simulate)
    simulate.add_argument("--from", dest="sender", required=True, help="the handset's MSISDN")
    simulate.add_argument("--to", required=True, help="one of the accounts' numbers")
    simulate.add_argument("--text", required=True, help="one SMS (STOP to opt out)")
    simulate.add_argument(
        "--carrier", help="a carrier with simulator: set (default: the first such carrier)"
    )
    simulate.set_defaults(handler=_simulate_mo)


def _simulate_mo(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    url, token = admin_endpoint(config, args.config)
    carrier = args.carrier or _first_simulated(config, args.config)
    body = json.dumps({"from": args.sender, "to": args.to, "text": args.text}).encode()
    request = urllib.request.Request(
        f"{url}/simulator/{carrier}/mo",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as error:
        raise CommandFailed(_description(error)) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise CommandFailed(
            f"cannot reach the admin API at {url} ({reason}): is gatewayd running?"
        ) from None
    print(f"{answer['from']} -> {answer['to']}: delivered by {carrier}, acknowledged by gatewayd")
    return 0


def admin_endpoint(config: Config, path) -> tuple[str, str]:
    """The admin API's base URL and token, as a client on this host reaches them."""
    if config.admin is None or config.admin.token is None:
        raise CommandFailed(f"{path} has no admin: section with a token")
    host, port = parse_listen(config.admin.listen[0])
    host = ANY_ADDRESS.get(host, host)
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}", config.admin.token.get_secret_value()


def _first_simulated(config: Config, path) -> str:
    for carrier in config.carriers:
        if carrier.simulator_settings is not None:
            return carrier.name
    raise CommandFailed(f"{path} has no carrier with simulator: set")


def _description(error: urllib.error.HTTPError) -> str:
    try:
        return json.load(error)["ResultDescription"]
    except (ValueError, KeyError, TypeError):
        return f"the admin API answered {error.code} {error.reason}"
