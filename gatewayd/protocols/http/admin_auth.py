"""The admin listener's credentials: one of `admin.token` and `admin.tokens`, each with the
name its commands are logged and audited under, sent either as `Authorization: Bearer <token>`
(scripts, curl) or as the password of HTTP Basic authentication, any user name (a browser,
which cannot send a Bearer header from its address bar: it prompts for Basic credentials, or
takes them from `http://admin:TOKEN@host/...`)."""

import binascii
import hmac
from base64 import b64decode

from gatewayd.config.schema import Config
from gatewayd.protocols.http.messages import Request

CHALLENGE = ("WWW-Authenticate", 'Basic realm="gatewayd admin", charset="UTF-8"')
"""Sent with a refusal, so that a browser asks for the token."""


def admin_token_name(config: Config, request: Request) -> str | None:
    """The name of the admin token the request carries; None without a configured one."""
    if config.admin is None:
        return None
    given = _given_token(request)
    if given is None:
        return None
    found = None
    for named in config.admin.named_tokens:
        expected = named.token.get_secret_value().encode()
        if hmac.compare_digest(given, expected) and found is None:
            found = named.name
    return found


def admin_token_accepted(config: Config, request: Request) -> bool:
    """True when the request carries a configured admin token (never without one)."""
    return admin_token_name(config, request) is not None


def _given_token(request: Request) -> bytes | None:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return credentials.encode()
    if scheme.lower() != "basic":
        return None
    try:
        decoded = b64decode(credentials.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded.partition(b":")[2]
