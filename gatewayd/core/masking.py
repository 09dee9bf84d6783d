"""Hiding secrets in what debug mode stores and the log shows: keep a recognizable prefix,
mask the rest.

A body is masked for what it is, not for what its Content-Type says: `curl -d '{"apiKey":…}'`
sends JSON labelled as a form, and the Message API reads it as JSON. So a body that parses as
JSON is masked field by field; anything else (a form, JSON cut short, garbage) by pattern,
both the `"key": "value"` and the `key=value` forms, on the text as it came.
"""

import json
import re
from urllib.parse import unquote_plus, urlsplit, urlunsplit

_KEY_NAMES = frozenset(
    {
        "apikey",
        "api_key",
        "api-key",
        "x-api-key",
        "authorization",
        "password",
        "passwd",
        "secret",
        "token",
        "access_token",
    }
)
_NAMES = "|".join(re.escape(name) for name in sorted(_KEY_NAMES, key=len, reverse=True))
_JSON_PAIR = re.compile(rf'("(?:{_NAMES})"\s*:\s*")((?:[^"\\]|\\.)*)(")', re.IGNORECASE)
_FORM_PAIR = re.compile(r"(^|[&;?\s{\"'])([^=&;?\s\"']+)=([^&;\s\"']*)")


def mask_secret(value: str) -> str:
    """'abcd1234efgh' -> 'abcd********'; short values are hidden entirely."""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 4)


def mask_body(body: bytes) -> str:
    """The body as text with every secret-looking value masked, whatever its Content-Type
    says it is."""
    text = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        return mask_text(text)
    if isinstance(data, dict | list):
        return json.dumps(_mask_tree(data), ensure_ascii=False)
    return mask_text(text)


def mask_text(text: str) -> str:
    """Secret-looking values in free text: JSON pairs and key=value pairs (a form, a query
    string, a URL in a log line)."""
    text = _JSON_PAIR.sub(lambda m: m[1] + mask_secret(m[2]) + m[3], text)
    return _FORM_PAIR.sub(_mask_form_pair, text)


def mask_url(url: str) -> str:
    """A URL with the secrets of its query and its user:password masked."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        credentials, host = netloc.rsplit("@", 1)
        user, _, password = credentials.partition(":")
        netloc = f"{user}:{mask_secret(password)}@{host}" if password else netloc
    return urlunsplit(parts._replace(netloc=netloc, query=mask_text(parts.query)))


def _mask_form_pair(match: re.Match[str]) -> str:
    lead, key, value = match[1], match[2], match[3]
    if unquote_plus(key).lower() not in _KEY_NAMES:
        return match[0]
    return f"{lead}{key}={mask_secret(unquote_plus(value))}"


def _mask_tree(node):
    if isinstance(node, dict):
        return {
            key: mask_secret(value)
            if isinstance(value, str) and key.lower() in _KEY_NAMES
            else _mask_tree(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_mask_tree(item) for item in node]
    return node
