"""HMAC-SHA256 signatures on webhook requests, so receivers can tell them from forgeries.

The signed text is `<timestamp>.<body>` for POST and `<timestamp>.<query string>` for GET;
the headers are `X-Gatewayd-Timestamp` (Unix seconds) and `X-Gatewayd-Signature:
sha256=<hex>`. Receivers should also refuse timestamps far from their clock (replays).
"""

import hashlib
import hmac
from urllib.parse import urlsplit

TIMESTAMP_HEADER = "X-Gatewayd-Timestamp"
SIGNATURE_HEADER = "X-Gatewayd-Signature"


def signed_content(method: str, url: str, body: bytes) -> bytes:
    return urlsplit(url).query.encode() if method.upper() == "GET" else body


def signature(secret: str, timestamp: int, content: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + content, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def sign(secret: str, timestamp: int, method: str, url: str, body: bytes) -> dict[str, str]:
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, signed_content(method, url, body)),
    }


def verify(secret: str, timestamp: str, content: bytes, received: str) -> bool:
    try:
        expected = signature(secret, int(timestamp), content)
    except ValueError:
        return False
    return hmac.compare_digest(expected, received)
