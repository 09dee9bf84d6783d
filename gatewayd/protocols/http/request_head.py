"""The request head as real clients write it, made strict before h11 parses it.

Accepted, as common servers accept them: whitespace between a header name and its colon
(the official RingRing PHP client sends `Content-Charset : UTF-8`) and empty lines before
the request line (RFC 9112 §2.2). Refused, because two parsers could frame the body
differently (request smuggling): whitespace before the colon of Content-Length or
Transfer-Encoding, a folded continuation of either, and Content-Length together with
Transfer-Encoding. Conflicting Content-Length values h11 refuses itself.
"""

import re

BLANK_LINE = re.compile(rb"\n\r?\n")  # where h11 too ends a head
LEADING_EMPTY_LINES = re.compile(rb"(?:\r?\n)+")
FRAMING = frozenset({b"content-length", b"transfer-encoding"})
WHITESPACE = b" \t"


class AmbiguousHead(Exception):
    """A head whose body framing is ambiguous: refused with 400."""


def split_head(buffer: bytes) -> tuple[bytes, bytes] | None:
    """(head, what follows it) once `buffer` holds a whole head, else None."""
    end = BLANK_LINE.search(buffer)
    if end is None:
        return None
    return buffer[: end.end()], buffer[end.end() :]


def drop_leading_empty_lines(buffer: bytes) -> bytes:
    leading = LEADING_EMPTY_LINES.match(buffer)
    return buffer[leading.end() :] if leading else buffer


def normalize_head(head: bytes) -> bytes:
    """`head` with header names' trailing whitespace removed; AmbiguousHead if framing is."""
    lines = head.split(b"\n")
    framing_seen: set[bytes] = set()
    previous: bytes | None = None
    changed = False
    for index in range(1, len(lines)):
        line = lines[index]
        if line[:1] in (b" ", b"\t"):
            if previous in FRAMING:
                raise AmbiguousHead(f"a folded {previous.decode()} header")
            continue
        name, colon, rest = line.partition(b":")
        if not colon:
            previous = None
            continue
        stripped = name.rstrip(WHITESPACE)
        key = stripped.lower()
        if key in FRAMING:
            if stripped != name:
                raise AmbiguousHead(f"whitespace before the colon of {key.decode()}")
            framing_seen.add(key)
        elif stripped != name and stripped:
            lines[index] = stripped + b":" + rest
            changed = True
        previous = key
    if framing_seen == FRAMING:
        raise AmbiguousHead("both content-length and transfer-encoding")
    return b"\n".join(lines) if changed else head
