"""Who is who: applications by API key, name, number and SMPP system_id, built once per config.

API keys are looked up by the SHA-256 digest of what the client sent. The comparison that
the lookup makes is between digests, which an attacker cannot steer byte by byte, so its
timing says nothing about how much of a real key was guessed (the constant-time property).
"""

import hashlib
from dataclasses import dataclass

from gatewayd.config.schema import AccountConfig, ApplicationConfig, Config
from gatewayd.config.secrets import api_key_digest


@dataclass(frozen=True)
class App:
    """An application with its account and the numbers assigned to it."""

    account: AccountConfig
    config: ApplicationConfig
    numbers: frozenset[str]

    @property
    def name(self) -> str:
        return self.config.name


class Directory:
    def __init__(self, config: Config) -> None:
        self.by_name: dict[str, App] = {}
        self.by_key_digest: dict[bytes, App] = {}
        self.by_number: dict[str, tuple[AccountConfig, App | None]] = {}
        self.by_smpp_system_id: dict[str, App] = {}
        for account in config.accounts:
            apps = {}
            for application in account.applications:
                numbers = frozenset(
                    n.number for n in account.numbers if n.application == application.name
                )
                app = App(account, application, numbers)
                apps[application.name] = app
                self.by_name[application.name] = app
                for key in application.api_keys:
                    self.by_key_digest[api_key_digest(key)] = app
                if application.smpp:
                    self.by_smpp_system_id[application.smpp.system_id] = app
            for number in account.numbers:
                owner = apps.get(number.application) if number.application else None
                self.by_number[number.number] = (account, owner)

    def authenticate(self, api_key: str) -> App | None:
        return self.by_key_digest.get(hashlib.sha256(api_key.encode()).digest())
