"""Hiding API keys in what debug mode stores: keep a recognizable prefix, mask the rest."""

import json
import re
from urllib.parse import parse_qsl, urlencode

_KEY_NAMES = {"apikey", "api_key", "authorization", "x-api-key", "password"}
_JSON_KEY = re.compile(r'("(?:apikey|api_key|password)"\s*:\s*")([^"]*)(")', re.IGNORECASE)


def mask_secret(value: str) -> str:
    """'abcd1234efgh' -> 'abcd********'; short values are hidden entirely."""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 4)


def mask_body(body: bytes, content_type: str | None) -> str:
    """The body as text with every API key or password value masked."""
    text = body.decode("utf-8", errors="replace")
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        pairs = parse_qsl(text, keep_blank_values=True)
        return urlencode([(k, mask_secret(v) if k.lower() in _KEY_NAMES else v) for k, v in pairs])
    try:
        data = json.loads(text)
    except ValueError:
        return _JSON_KEY.sub(lambda m: m[1] + mask_secret(m[2]) + m[3], text)
    return json.dumps(_mask_tree(data), ensure_ascii=False)


def mask_query(query: str) -> str:
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, mask_secret(v) if k.lower() in _KEY_NAMES else v) for k, v in pairs])


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
