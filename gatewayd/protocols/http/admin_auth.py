"""The admin listener's credentials: `Authorization: Bearer <token>`, one of `admin.token` and
`admin.tokens`, each with the name its commands are logged and audited under."""

import hmac

from gatewayd.config.schema import Config
from gatewayd.protocols.http.messages import Request


def admin_token_name(config: Config, request: Request) -> str | None:
    """The name of the admin token the request carries; None without a configured one."""
    if config.admin is None:
        return None
    given = request.headers.get("authorization", "").encode()
    found = None
    for named in config.admin.named_tokens:
        expected = f"Bearer {named.token.get_secret_value()}".encode()
        if hmac.compare_digest(given, expected) and found is None:
            found = named.name
    return found


def admin_token_accepted(config: Config, request: Request) -> bool:
    """True when the request carries a configured admin token (never without one)."""
    return admin_token_name(config, request) is not None
