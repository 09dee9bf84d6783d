"""`gatewayd trace`: every event of a message (sent or incoming), read directly from the
database."""

import argparse
import json
import sys

from gatewayd.config.loader import load_config
from gatewayd.core.recipients import check_recipient
from gatewayd.core.trace import trace_incoming, trace_messages
from gatewayd.storage.engine import open_engine

# What each kind of event shows after its time and name, in this order.
_SHOWN = {
    "accepted": ("front_door", "application"),
    "sent": ("part", "carrier"),
    "submitted": ("part", "carrier", "carrier_message_id", "response_ms"),
    "receipt": ("part", "state", "error"),
    "final": ("status", "description"),
    "webhook": ("carried", "url", "status_code", "error", "source_address", "duration_ms"),
    "webhook_due": ("carried",),
    "smpp_delivery": ("carried", "state", "attempts", "error"),
    "received": ("carrier",),
    "routed": ("application", "by", "keyword"),
    "stop": ("reply",),
    "start": ("reply",),
    "help": ("reply",),
}


def add_trace_command(commands, config_option) -> None:
    trace = commands.add_parser(
        "trace",
        help="print every event of a message",
        description="Every event of a message, by id, reference or recipient: accepted, when "
        "each part's submit_sm was sent, its submit_sm_resp (carrier id) and its receipt came, "
        "the final status, each webhook attempt and SMPP delivery. Of an incoming message, by "
        "id or sender: received, how it was routed (keyword or the number's default "
        "application), STOP/START/HELP and the reply, its deliveries. Newest message first.",
    )
    config_option(trace)
    which = trace.add_mutually_exclusive_group(required=True)
    which.add_argument("message_id", nargs="?", metavar="ID", help="a MessageId")
    which.add_argument("--reference", help="the client's Reference")
    which.add_argument("--to", metavar="MSISDN", help="the recipient")
    which.add_argument(
        "--from", dest="sender", metavar="MSISDN", help="the sender of incoming messages"
    )
    trace.add_argument("--limit", type=int, default=20, help="at most this many messages")
    trace.add_argument("--json", action="store_true", help="print the admin API's JSON")
    trace.set_defaults(handler=_trace)


def _trace(args: argparse.Namespace) -> int:
    to, sender = _msisdn(args.to), _msisdn(args.sender)
    engine = open_engine(load_config(args.config).database)
    try:
        with engine.connect() as connection:
            traces = []
            if sender is None:
                traces = trace_messages(connection, args.message_id, args.reference, to, args.limit)
            incoming = []
            if args.reference is None and to is None:
                incoming = trace_incoming(connection, args.message_id, sender, args.limit)
    finally:
        engine.dispose()
    if not traces and not incoming:
        print("gatewayd: no such message", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"messages": traces, "incoming": incoming}, indent=2))
        return 0
    for trace in traces:
        print(format_trace(trace))
    for trace in incoming:
        print(format_incoming_trace(trace))
    return 0


def _msisdn(given: str | None) -> str | None:
    if given is not None and check_recipient(given).valid:
        return check_recipient(given).msisdn
    return given


def format_trace(trace: dict) -> str:
    message = trace["message"]
    lines = [
        f"{message['MessageId']}  {message['application']}  to {message['to']}  "
        f"{message['status']} ({message['status_description']})"
        + (f"  reference {message['reference']}" if message["reference"] else "")
    ]
    return "\n".join(lines + _event_lines(trace["events"]))


def format_incoming_trace(trace: dict) -> str:
    incoming = trace["incoming"]
    owner = incoming["application"] or "(no application)"
    head = f"{incoming['MessageId']}  {owner}  incoming from {incoming['from']} to {incoming['to']}"
    return "\n".join([head, *_event_lines(trace["events"])])


def _event_lines(events: list[dict]) -> list[str]:
    lines = []
    for event in events:
        details = [
            f"{name}={event[name]}"
            for name in _SHOWN.get(event["event"], ())
            if event.get(name) is not None
        ]
        lines.append(f"  {event['time']}  {event['event']:<13}  {'  '.join(details)}".rstrip())
    return lines
