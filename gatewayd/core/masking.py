"""Hiding secrets in what debug mode stores and the log shows: keep a recognizable prefix,
mask the rest.

A body is masked for what it is, not for what its Content-Type says: `curl -d '{"apiKey":…}'`
sends JSON labelled as a form, and the Message API reads it as JSON. So a body that parses as
JSON is masked field by field (and the URLs and key=value pairs inside other values, such as
a statusUrl's query); anything else (a form, JSON cut short, garbage) by pattern, both the
`"key": "value"` and the `key=value` forms, on the text as it came.
"""

import json
import re
from urllib.parse import unquote_plus, urlsplit, urlunsplit

_SECRET_PARTS = ("apikey", "authorization", "passwd", "password", "secret", "signature", "token")
"""A field whose name, without its separators, contains one of these holds a secret:
clientSecret, client_secret, auth_token, access-token, X-Api-Key, X-Hub-Signature."""
_SECRET_WORDS = frozenset({"sig"})
"""Secrets only as a word of the name (sig, hmac_sig, webhookSig), not inside another word
(design, signal)."""
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_JSON_PAIR = re.compile(r'("((?:[^"\\]|\\.)*)"\s*:\s*")((?:[^"\\]|\\.)*)(")')
_FORM_PAIR = re.compile(r"(^|[&;?\s{\"'])([^=&;?\s\"']+)=([^&;\s\"']*)")


def is_secret_name(name: str) -> bool:
    """Whether a field, header or parameter called `name` holds a secret, in any case and
    spelling (apiKey, API_KEY, api-key)."""
    compact = re.sub(r"[^a-z0-9]", "", name.lower())
    if any(part in compact for part in _SECRET_PARTS):
        return True
    return any(word.lower() in _SECRET_WORDS for word in _WORD.findall(name))


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
    text = _JSON_PAIR.sub(_mask_json_pair, text)
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


def _mask_json_pair(match: re.Match[str]) -> str:
    if not is_secret_name(match[2]):
        return match[0]
    return match[1] + mask_secret(match[3]) + match[4]


def _mask_form_pair(match: re.Match[str]) -> str:
    lead, key, value = match[1], match[2], match[3]
    if not is_secret_name(unquote_plus(key)):
        return match[0]
    return f"{lead}{key}={mask_secret(unquote_plus(value))}"


def _mask_string(value: str) -> str:
    """A value that is not a secret itself may carry some: a URL's query or user:password
    (statusUrl), key=value pairs."""
    if "://" in value:
        try:
            return mask_url(value)
        except ValueError:  # not a URL after all (an unclosed "[" in the host)
            pass
    return mask_text(value)


def _mask_tree(node):
    if isinstance(node, str):
        return _mask_string(node)
    if isinstance(node, dict):
        return {
            key: mask_secret(value)
            if isinstance(value, str) and is_secret_name(key)
            else _mask_tree(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_mask_tree(item) for item in node]
    return node
