"""The request head as real clients write it, made strict before httptools (llhttp) parses it.

Accepted, as common servers (nginx) accept them: whitespace between a header name and its
colon (the official RingRing PHP client sends `Content-Charset : UTF-8`), empty lines before
the request line (RFC 9112 §2.2), lines ended by a bare LF, bytes above 0x7F in the request
target (sent on percent-encoded) and a Content-Length repeated with the same value (sent on
once). An Upgrade header is dropped: this server never switches protocols, and llhttp would
stop at the head of a request that asks to. Refused, because two parsers could frame the
body differently (request smuggling): whitespace before the colon of Content-Length or
Transfer-Encoding, a folded continuation of either, Content-Length together with
Transfer-Encoding, and Content-Length values that differ. What else is malformed llhttp
refuses itself.
"""

import re

BLANK_LINE = re.compile(rb"\n\r?\n")  # where a head ends, bare LFs included
LEADING_EMPTY_LINES = re.compile(rb"(?:\r?\n)+")
NOT_ASCII = re.compile(rb"[\x80-\xff]")
FRAMING = frozenset({b"content-length", b"transfer-encoding"})
DROPPED = b"upgrade"
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
    """`head` as llhttp accepts it (see the module's docstring); AmbiguousHead if framing is."""
    lines = [line[:-1] if line.endswith(b"\r") else line for line in head.split(b"\n")]
    lines[0] = NOT_ASCII.sub(lambda byte: b"%%%02X" % byte[0][0], lines[0])
    kept = [lines[0]]
    lengths: set[bytes] = set()
    framing_seen: set[bytes] = set()
    previous: bytes | None = None
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            if previous in FRAMING:
                raise AmbiguousHead(f"a folded {previous.decode()} header")
            if previous != DROPPED:
                kept.append(line)
            continue
        name, colon, rest = line.partition(b":")
        if not colon:
            previous = None
            kept.append(line)
            continue
        stripped = name.rstrip(WHITESPACE)
        key = stripped.lower()
        previous = key
        if key in FRAMING:
            if stripped != name:
                raise AmbiguousHead(f"whitespace before the colon of {key.decode()}")
            framing_seen.add(key)
            if key == b"content-length":
                value = rest.strip(WHITESPACE)
                if value in lengths:
                    continue
                lengths.add(value)
                if len(lengths) > 1:
                    raise AmbiguousHead("conflicting content-length values")
        elif key == DROPPED:
            continue
        kept.append(stripped + b":" + rest if stripped else line)
    if framing_seen == FRAMING:
        raise AmbiguousHead("both content-length and transfer-encoding")
    return b"\r\n".join(kept)
