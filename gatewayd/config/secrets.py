"""Secrets in the configuration: ${ENV_VAR} references, *_file keys and hashed API keys.

Both forms are resolved on the raw YAML tree before validation, so a missing variable or an
unreadable file is reported with the key path it was written under.
"""

import hashlib
import os
import re
from pathlib import Path
from typing import Any

from gatewayd.config.errors import format_path

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_FILE_SUFFIX = "_file"
_HASH_PREFIX = "sha256:"


def hash_api_key(key: str) -> str:
    """The stored form of an API key: 'sha256:<hex>'."""
    return _HASH_PREFIX + hashlib.sha256(key.encode()).hexdigest()


def api_key_digest(key_or_hash: str) -> bytes:
    """The SHA-256 digest of a configured key, whether written plain or as 'sha256:<hex>'."""
    if key_or_hash.startswith(_HASH_PREFIX):
        return bytes.fromhex(key_or_hash[len(_HASH_PREFIX) :])
    return hashlib.sha256(key_or_hash.encode()).digest()


def is_hashed_key(value: str) -> bool:
    return bool(re.fullmatch(r"sha256:[0-9a-fA-F]{64}", value))


def resolve_secrets(
    tree: Any, environ: dict[str, str] | None = None, problems: list[str] | None = None
) -> tuple[Any, list[str]]:
    """Return the tree with ${VAR} substituted and `key_file: path` turned into `key: content`."""
    env = dict(os.environ) if environ is None else environ
    found: list[str] = [] if problems is None else problems
    return _resolve(tree, (), env, found), found


def _resolve(node: Any, path: tuple[str | int, ...], env: dict[str, str], problems: list[str]):
    if isinstance(node, dict):
        resolved: dict[Any, Any] = {}
        for key, value in node.items():
            value = _resolve(value, (*path, key), env, problems)
            if isinstance(key, str) and key.endswith(_FILE_SUFFIX) and len(key) > len(_FILE_SUFFIX):
                target = key[: -len(_FILE_SUFFIX)]
                if target in node:
                    problems.append(
                        f"{format_path((*path, key))}: both '{target}' and '{key}' are given"
                    )
                    continue
                resolved[target] = _read_secret_file(value, (*path, key), problems)
            else:
                resolved[key] = value
        return resolved
    if isinstance(node, list):
        return [_resolve(item, (*path, index), env, problems) for index, item in enumerate(node)]
    if isinstance(node, str) and "${" in node:
        return _substitute(node, path, env, problems)
    return node


def _substitute(text: str, path: tuple[str | int, ...], env: dict[str, str], problems: list[str]):
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            problems.append(f"{format_path(path)}: environment variable {name} is not set")
            return ""
        if not env[name]:
            # A secrets file installed but not filled in (NAME= with no value).
            problems.append(f"{format_path(path)}: environment variable {name} is empty")
        return env[name]

    return _ENV_REFERENCE.sub(replace, text)


def _read_secret_file(value: Any, path: tuple[str | int, ...], problems: list[str]) -> str | None:
    if not isinstance(value, str) or not value:
        problems.append(f"{format_path(path)}: must be a file path")
        return None
    try:
        return Path(value).read_text(encoding="utf-8").strip()
    except OSError as error:
        problems.append(f"{format_path(path)}: cannot read {value}: {error.strerror}")
        return None
