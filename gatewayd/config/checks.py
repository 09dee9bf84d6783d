"""Checks across sections that a single key cannot express (names, references, uniqueness)."""

import re
from collections.abc import Iterable

from gatewayd.config.errors import format_path
from gatewayd.config.schema import CarrierConfig, Config
from gatewayd.config.secrets import api_key_digest, is_hashed_key
from gatewayd.core.keywords import AccountWords
from gatewayd.protocols.smpp.client import CarrierSettings
from gatewayd.protocols.tls import tls_problem

ALPHANUMERIC_SENDER = re.compile(r"^[A-Za-z0-9 .\-_&+]{1,11}$")


def cross_check(config: Config) -> list[str]:
    """Every problem found, each as 'key.path: reason'."""
    problems: list[str] = []
    problems += _unique(
        ((("carriers", i, "name"), c.name) for i, c in enumerate(config.carriers)), "carrier name"
    )
    problems += _unique(
        ((("accounts", i, "name"), a.name) for i, a in enumerate(config.accounts)), "account name"
    )
    problems += _unique(
        (
            (("accounts", i, "applications", j, "name"), app.name)
            for i, account in enumerate(config.accounts)
            for j, app in enumerate(account.applications)
        ),
        "application name",
    )
    problems += _check_routes(config)
    problems += _check_api_keys(config)
    problems += _check_numbers(config)
    problems += _check_account_words(config)
    problems += _check_keywords(config)
    problems += _unique(
        (
            (("accounts", i, "applications", j, "smpp", "system_id"), app.smpp.system_id)
            for i, account in enumerate(config.accounts)
            for j, app in enumerate(account.applications)
            if app.smpp
        ),
        "SMPP system_id",
    )
    problems += _check_time_windows(config)
    problems += _check_lease(config)
    problems += _check_tls(config)
    return problems


def _check_tls(config: Config) -> list[str]:
    """Certificates that cannot serve are refused at load (and on reload), not at the first
    connection."""
    sections = {"smtp": config.smtp, "smpp_server": config.smpp_server}
    found = (
        tls_problem(name, section.tls_certificate, section.tls_key)
        for name, section in sections.items()
        if section is not None
    )
    return [problem for problem in found if problem]


HAND_OVER_S = CarrierSettings.queue_wait_s
"""The longest a bind may take to pick a submit up."""
RECORD_S = 5.0
"""Allowance for committing the part's record once the carrier has answered."""


def submit_margin_s(carrier: CarrierConfig) -> float:
    """How long a submit to `carrier` may take from its hand-over to the commit of its record:
    a message is submitted only while its claim has at least this much left."""
    return HAND_OVER_S + carrier.response_timeout_s + RECORD_S


def _check_lease(config: Config) -> list[str]:
    lease = config.database.claim_lease_s
    return [
        f"database.claim_lease_s: {lease:g}s leaves no time to submit to carrier {c.name!r} "
        f"(needs more than {2 * submit_margin_s(c):g}s with its response_timeout_s)"
        for c in config.carriers
        if lease <= 2 * submit_margin_s(c)
    ]


def _unique(
    items: Iterable[tuple[tuple[str | int, ...], str]], what: str, *, reveal: bool = True
) -> list[str]:
    seen: dict[str, tuple[str | int, ...]] = {}
    problems = []
    for path, value in items:
        if value in seen:
            shown = f" {value!r}" if reveal else ""
            first = format_path(seen[value])
            problems.append(f"{format_path(path)}: duplicate {what}{shown} (first at {first})")
        else:
            seen[value] = path
    return problems


def _check_routes(config: Config) -> list[str]:
    known = {carrier.name for carrier in config.carriers}
    problems = _unique(
        ((("routes", i, "prefix"), route.prefix) for i, route in enumerate(config.routes)),
        "route prefix",
    )
    for i, route in enumerate(config.routes):
        for j, name in enumerate(route.carriers):
            if name not in known:
                problems.append(
                    f"{format_path(('routes', i, 'carriers', j))}: no carrier named {name!r}"
                )
    return problems


def _check_api_keys(config: Config) -> list[str]:
    problems = []
    keys = []
    for i, account in enumerate(config.accounts):
        for j, app in enumerate(account.applications):
            for k, key in enumerate(app.api_keys):
                path = ("accounts", i, "applications", j, "api_keys", k)
                if key.startswith("sha256:") and not is_hashed_key(key):
                    problems.append(f"{format_path(path)}: 'sha256:' must be followed by 64 hex")
                    continue
                keys.append((path, api_key_digest(key).hex()))
    return problems + _unique(keys, "API key", reveal=False)


def _check_numbers(config: Config) -> list[str]:
    problems = _unique(
        (
            (("accounts", i, "numbers", j, "number"), number.number)
            for i, account in enumerate(config.accounts)
            for j, number in enumerate(account.numbers)
        ),
        "number",
    )
    for i, account in enumerate(config.accounts):
        apps = {app.name for app in account.applications}
        for j, number in enumerate(account.numbers):
            if number.application is not None and number.application not in apps:
                problems.append(
                    f"{format_path(('accounts', i, 'numbers', j, 'application'))}: "
                    f"account {account.name!r} has no application {number.application!r}"
                )
        for j, app in enumerate(account.applications):
            own = {n.number for n in account.numbers if n.application == app.name}
            own |= {claim.number for claim in app.keywords}
            sender = app.default_number
            if sender is None or sender in own:
                continue
            if app.alphanumeric_sender and ALPHANUMERIC_SENDER.match(sender):
                continue
            problems.append(
                f"{format_path(('accounts', i, 'applications', j, 'default_number'))}: "
                f"{sender!r} is not one of the application's numbers"
            )
    return problems


def _check_time_windows(config: Config) -> list[str]:
    problems = []
    for i, account in enumerate(config.accounts):
        for j, app in enumerate(account.applications):
            for k, window in enumerate(app.time_windows):
                if window.start == window.end:
                    path = ("accounts", i, "applications", j, "time_windows", k, "end")
                    problems.append(f"{format_path(path)}: the window is empty (end = start)")
    return problems


def _check_account_words(config: Config) -> list[str]:
    """A text in force is one kind of word only: opt-out, opt-in or help."""
    problems = []
    for i, account in enumerate(config.accounts):
        words = AccountWords.of(account)
        checks = (
            ("start_words", account.start_words, words.start, {"opt-out": words.stop}),
            (
                "help_words",
                account.help_words,
                words.help,
                {"opt-out": words.stop, "opt-in": words.start},
            ),
        )
        for key, listed, in_force, others in checks:
            for k, word in enumerate((listed or []) if in_force else []):
                for kind, taken in others.items():
                    if word in taken:
                        problems.append(
                            f"{format_path(('accounts', i, key, k))}: {word!r} is already one "
                            f"of the account's {kind} words"
                        )
    return problems


def _check_keywords(config: Config) -> list[str]:
    """Each keyword on the account's own numbers, claimed by one application only, and not
    a word the gateway answers itself (STOP, START, HELP and their synonyms)."""
    problems = []
    for i, account in enumerate(config.accounts):
        numbers = {n.number for n in account.numbers}
        in_force = AccountWords.of(account)
        owners: dict[tuple[str, str], tuple[str, tuple[str | int, ...]]] = {}
        for j, app in enumerate(account.applications):
            for k, claim in enumerate(app.keywords):
                base = ("accounts", i, "applications", j, "keywords", k)
                if claim.number not in numbers:
                    problems.append(
                        f"{format_path((*base, 'number'))}: {claim.number!r} is not a number "
                        f"of account {account.name!r}"
                    )
                for w, word in enumerate(claim.words):
                    path = (*base, "words", w)
                    kind = in_force.claims(word)
                    if kind is not None:
                        problems.append(
                            f"{format_path(path)}: {word!r} is one of the account's {kind} "
                            "words, which the gateway answers itself"
                        )
                        continue
                    first = owners.setdefault((claim.number, word), (app.name, path))
                    if first[1] != path:
                        problems.append(
                            f"{format_path(path)}: keyword {word!r} on {claim.number} is claimed "
                            f"by both {first[0]!r} and {app.name!r} (first at "
                            f"{format_path(first[1])})"
                        )
    return problems
