"""The admin listener's one credential, the configured admin token, sent either as
`Authorization: Bearer <token>` (scripts, curl) or as the password of HTTP Basic
authentication, any user name (a browser, which cannot send a Bearer header from its address
bar: it prompts for Basic credentials, or takes them from `http://admin:TOKEN@host/...`)."""

import binascii
import hmac
from base64 import b64decode

from gatewayd.config.schema import Config
from gatewayd.protocols.http.messages import Request

CHALLENGE = ("WWW-Authenticate", 'Basic realm="gatewayd admin", charset="UTF-8"')
"""Sent with a refusal, so that a browser asks for the token."""


def admin_token_accepted(config: Config, request: Request) -> bool:
    """True when the request carries the configured admin token (never without one)."""
    token = config.admin.token if config.admin is not None else None
    if token is None:
        return False
    expected = token.get_secret_value().encode()
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        given = credentials.encode()
    elif scheme.lower() == "basic":
        given = _basic_password(credentials)
    else:
        return False
    return hmac.compare_digest(given, expected)


def _basic_password(credentials: str) -> bytes:
    try:
        decoded = b64decode(credentials.strip(), validate=True)
    except (binascii.Error, ValueError):
        return b""
    return decoded.partition(b":")[2]
