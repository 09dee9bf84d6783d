"""What a mobile user texts that the gateway acts on.

Opt-out (STOP), opt-in (START) and help words are whole messages, compared in any case with
the spaces around and between words ignored (and a final . or !). A routing keyword is the
first word of a message: it picks the application on a number several applications share.
"""

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from gatewayd.config.schema import AccountConfig

DEFAULT_STOP_WORDS = frozenset(
    {
        "STOP",
        "STOPALL",
        "STOP ALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "OPTOUT",
        "OPT OUT",
        "ARRET",
        "ARRÊT",
        "STOPP",
        "ALTO",
        "BASTA",
        "UITSCHRIJVEN",
        "AFMELDEN",
    }
)
DEFAULT_START_WORDS = frozenset({"START", "UNSTOP", "SUBSCRIBE", "YES", "OPTIN", "OPT IN"})

Action = Literal["stop", "start", "help"]


def normalized(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().strip(".!")).upper()


def keyword_of(text: str) -> str:
    """The first word of `text` in upper case, without trailing punctuation ("" if none)."""
    words = text.split(maxsplit=1)
    return words[0].rstrip(".!?,;:").upper() if words else ""


@dataclass(frozen=True)
class AccountWords:
    """The words in force on an account's numbers: opt-out and opt-in only with the
    account's blacklist on, help only with a help reply configured."""

    stop: frozenset[str]
    start: frozenset[str]
    help: frozenset[str]

    @classmethod
    def of(cls, account: "AccountConfig") -> "AccountWords":
        def opt(configured: list[str] | None, default: frozenset[str]) -> frozenset[str]:
            if not account.blacklist:
                return frozenset()
            return default if configured is None else frozenset(configured)

        return cls(
            stop=opt(account.stop_words, DEFAULT_STOP_WORDS),
            start=opt(account.start_words, DEFAULT_START_WORDS),
            help=frozenset(account.help_words) if account.help_reply else frozenset(),
        )

    def claims(self, word: str) -> str | None:
        """Which of the account's kinds of word `word` already is, if any."""
        for kind, words in (("opt-out", self.stop), ("opt-in", self.start), ("help", self.help)):
            if word in words:
                return kind
        return None

    def action(self, text: str) -> Action | None:
        said = normalized(text)
        if said in self.stop:
            return "stop"
        if said in self.start:
            return "start"
        if said in self.help:
            return "help"
        return None
