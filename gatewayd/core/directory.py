"""Who is who: applications by API key, name, number and SMPP system_id, and which one an
incoming message goes to; built once per config.

API keys are looked up by the SHA-256 digest of what the client sent. The comparison that
the lookup makes is between digests, which an attacker cannot steer byte by byte, so its
timing says nothing about how much of a real key was guessed (the constant-time property).
"""

import hashlib
from dataclasses import dataclass

from gatewayd.config.schema import AccountConfig, ApplicationConfig, Config
from gatewayd.config.secrets import api_key_digest
from gatewayd.core.keywords import AccountWords, keyword_of


@dataclass(frozen=True)
class App:
    """An application with its account and its numbers: those assigned to it and those it
    owns a keyword on (it may send from both)."""

    account: AccountConfig
    config: ApplicationConfig
    numbers: frozenset[str]

    @property
    def name(self) -> str:
        return self.config.name


@dataclass(frozen=True)
class IncomingRoute:
    """Where an incoming message goes: `app` is None when no application owns the number
    (or no account has it); `keyword` is the one that chose `app`, None for the number's
    default application."""

    account: AccountConfig | None
    words: AccountWords | None
    app: App | None
    keyword: str | None = None


class Directory:
    def __init__(self, config: Config) -> None:
        self.by_name: dict[str, App] = {}
        self.by_key_digest: dict[bytes, App] = {}
        self.by_number: dict[str, tuple[AccountConfig, App | None]] = {}
        self.by_smpp_system_id: dict[str, App] = {}
        self._keywords: dict[str, dict[str, App]] = {}  # number → keyword → its owner there
        self._words: dict[str, AccountWords] = {}
        for account in config.accounts:
            self._words[account.name] = AccountWords.of(account)
            apps = {}
            for application in account.applications:
                numbers = frozenset(
                    n.number for n in account.numbers if n.application == application.name
                ) | {claim.number for claim in application.keywords}
                app = App(account, application, numbers)
                apps[application.name] = app
                self.by_name[application.name] = app
                for key in application.api_keys:
                    self.by_key_digest[api_key_digest(key)] = app
                if application.smpp:
                    self.by_smpp_system_id[application.smpp.system_id] = app
                for claim in application.keywords:
                    owned = self._keywords.setdefault(claim.number, {})
                    owned.update(dict.fromkeys(claim.words, app))
            for number in account.numbers:
                owner = apps.get(number.application) if number.application else None
                self.by_number[number.number] = (account, owner)

    def route_incoming(self, number: str, text: str) -> IncomingRoute:
        """The application an incoming message to `number` goes to: the owner of its first
        word as a keyword there, else the number's own application."""
        owner = self.by_number.get(number)
        if owner is None:
            return IncomingRoute(None, None, None)
        account, default = owner
        keyword = keyword_of(text)
        app = self._keywords.get(number, {}).get(keyword)
        if app is not None:
            return IncomingRoute(account, self._words[account.name], app, keyword)
        return IncomingRoute(account, self._words[account.name], default)

    def authenticate(self, api_key: str) -> App | None:
        return self.by_key_digest.get(hashlib.sha256(api_key.encode()).digest())
