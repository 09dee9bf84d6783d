"""Small validated value types shared by the configuration models."""

import ipaddress
import re
from datetime import time
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field, PlainSerializer

from gatewayd.core.keywords import normalized

_LISTEN = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]]+)):(?P<port>[0-9]{1,5})$")


def parse_listen(value: str) -> tuple[str, int]:
    """'127.0.0.1:8080' or '[::1]:8080' -> (host, port)."""
    match = _LISTEN.match(value)
    if not match or not 0 <= int(match["port"]) <= 65535:
        raise ValueError(f"{value!r} is not host:port (IPv6 as [::1]:8080)")
    return match["v6"] or match["host"], int(match["port"])


def _listen(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not host:port")
    parse_listen(value)
    return value


def _time_of_day(value: Any) -> time:
    if isinstance(value, int) and 0 <= value < 24 * 60:
        # YAML 1.1 reads an unquoted 08:00 as a sexagesimal number of minutes.
        return time(value // 60, value % 60)
    text = str(value)
    match = re.fullmatch(r"([0-9]{1,2}):([0-9]{2})", text)
    if match:
        hours, minutes = int(match[1]), int(match[2])
        if hours == 24 and minutes == 0:
            return time.max
        if hours < 24 and minutes < 60:
            return time(hours, minutes)
    raise ValueError(f"{text!r} is not a time (HH:MM)")


def _zone(value: Any) -> ZoneInfo:
    if isinstance(value, ZoneInfo):
        return value
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a time zone (e.g. Europe/Brussels)") from None


def _network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or range") from None


def _address(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


def http_url_problem(text: str) -> str | None:
    """Why a webhook cannot be sent to `text` (None when it can): not http(s), no host, a
    port that is no port, a host name DNS cannot carry."""
    try:
        parts = urlsplit(text)
        _ = parts.port  # ValueError when not a number or out of range
        host = parts.hostname
        if host:
            host.encode("idna")  # UnicodeError (a ValueError) for an empty or too long label
    except ValueError as error:
        return str(error)
    if parts.scheme not in ("http", "https") or not host:
        return "not an http:// or https:// URL"
    return None


def _http_url(value: Any) -> str:
    text = str(value)
    problem = http_url_problem(text)
    if problem is not None:
        raise ValueError(f"{text!r} cannot take webhooks: {problem}")
    return text


def _prefix(value: Any) -> str:
    text = "" if value is None else str(value)
    if not re.fullmatch(r"[0-9]{0,15}", text):
        raise ValueError(f"{text!r} is not a number prefix (digits only)")
    return text


def _lower_word(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _upper_word(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _texted_word(value: Any) -> Any:
    """What a mobile user texts, as the gateway compares it: upper case, spaces collapsed."""
    return normalized(value) if isinstance(value, str) else value


def _keyword(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    word = normalized(value)
    if not word or " " in word or len(word) > 32:
        raise ValueError(f"{value!r} is not one word (a keyword is the first word of a message)")
    return word


ListenAddress = Annotated[str, BeforeValidator(_listen)]
TimeOfDay = Annotated[time, BeforeValidator(_time_of_day)]
TimeZone = Annotated[ZoneInfo, BeforeValidator(_zone), PlainSerializer(str)]
IpNetwork = Annotated[
    ipaddress.IPv4Network | ipaddress.IPv6Network, BeforeValidator(_network), PlainSerializer(str)
]
IpAddress = Annotated[
    ipaddress.IPv4Address | ipaddress.IPv6Address, BeforeValidator(_address), PlainSerializer(str)
]
HttpUrl = Annotated[str, BeforeValidator(_http_url)]
NumberPrefix = Annotated[str, BeforeValidator(_prefix)]
LowerWord = BeforeValidator(_lower_word)
UpperWord = BeforeValidator(_upper_word)
TextedWords = Annotated[str, BeforeValidator(_texted_word), Field(min_length=1, max_length=64)]
"""An opt-out, opt-in or help message (one or more words, the whole message)."""
Keyword = Annotated[str, BeforeValidator(_keyword)]
"""A routing keyword: one word, the first of a message."""
