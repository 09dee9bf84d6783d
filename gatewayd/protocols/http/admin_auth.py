"""The admin listener's one credential: `Authorization: Bearer <admin.token>`."""

import hmac

from gatewayd.config.schema import Config
from gatewayd.protocols.http.messages import Request


def admin_token_accepted(config: Config, request: Request) -> bool:
    """True when the request carries the configured admin token (never without one)."""
    token = config.admin.token if config.admin is not None else None
    if token is None:
        return False
    expected = f"Bearer {token.get_secret_value()}"
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), expected.encode())
