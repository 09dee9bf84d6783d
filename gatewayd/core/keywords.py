"""Opt-out and opt-in keywords a mobile user may text (case-insensitive, spaces ignored)."""

import re

STOP_WORDS = {
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
START_WORDS = {"START", "UNSTOP", "SUBSCRIBE", "YES", "OPTIN", "OPT IN"}


def _normalized(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().strip(".!")).upper()


def is_stop(text: str) -> bool:
    return _normalized(text) in STOP_WORDS


def is_start(text: str) -> bool:
    return _normalized(text) in START_WORDS
