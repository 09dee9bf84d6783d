"""The PDUs every message crosses (submit_sm, deliver_sm, their responses, enquire_link),
encoded and decoded without building smpplib's objects, which cost about 100 µs a PDU.

The layouts are read from smpplib's own command classes, and the results are smpplib's
byte for byte (tests/test_smpp_fast_path.py checks this against smpplib on generated PDUs).
Anything out of the ordinary — a field this path does not know, a value of another type or
range, a TLV of a length its type does not have, a body that ends early — is not handled
here: `encode` and `decode` return None and the caller hands the PDU to smpplib, so every
odd case keeps smpplib's behaviour and its errors.
"""

import struct
from dataclasses import dataclass
from typing import Any

from smpplib import command as smpp_command
from smpplib import command_codes
from smpplib import consts as smpp_consts
from smpplib.ptypes import ostr

HOT_COMMANDS = (
    "submit_sm",
    "submit_sm_resp",
    "deliver_sm",
    "deliver_sm_resp",
    "enquire_link",
    "enquire_link_resp",
)
_HEADER = struct.Struct(">LLLL")
_TLV_HEADER = struct.Struct(">HH")
_INT, _TEXT, _OCTETS = "int", "text", "octets"


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    kind: str
    size: int  # integers: bytes on the wire
    max: int  # texts: the longest value smpplib keeps, NUL included
    tag: int  # TLVs only


@dataclass(frozen=True, slots=True)
class _Layout:
    command_id: int
    mandatory: tuple[_Field, ...]
    optional: tuple[_Field, ...]
    by_tag: dict[int, _Field]
    names: frozenset[str]


def _layout(command: str) -> _Layout:
    pdu = smpp_command.factory(command, sequence=1)
    mandatory: list[_Field] = []
    optional: list[_Field] = []
    for name in pdu.params_order:
        param = pdu.params[name]
        kind = {int: _INT, str: _TEXT, ostr: _OCTETS}.get(param.type, "")
        is_optional = pdu.field_is_optional(name)
        tag = smpp_consts.OPTIONAL_PARAMS[name] if is_optional else 0
        field = _Field(name, kind, getattr(param, "size", 0), getattr(param, "max", 0), tag)
        (optional if is_optional else mandatory).append(field)
    for field in mandatory:
        # What this path does not implement must not be mandatory in a hot command.
        assert field.kind and (field.kind != _TEXT or field.max), field
        assert field.kind != _INT or field.size == 1, field
    return _Layout(
        command_codes.get_command_code(command),
        tuple(mandatory),
        tuple(optional),
        {field.tag: field for field in optional},
        frozenset(field.name for field in mandatory + optional) - {"sm_length"},
    )


_LAYOUTS = {command: _layout(command) for command in HOT_COMMANDS}
_BY_ID = {layout.command_id: (command, layout) for command, layout in _LAYOUTS.items()}
_INT_FORMATS = {size: struct.Struct(">HH" + f) for size, f in smpp_consts.INT_PACK_FORMATS.items()}


def encode(command: str, sequence: int, status: int, fields: dict[str, Any]) -> bytes | None:
    """The PDU as smpplib would generate it, or None when smpplib must do it."""
    layout = _LAYOUTS.get(command)
    if layout is None or not layout.names.issuperset(fields):
        return None
    short_message = fields.get("short_message")
    if short_message is not None and type(short_message) is not bytes:
        return None
    if short_message and fields.get("message_payload"):
        return None
    body = bytearray()
    for field in layout.mandatory:
        if field.name == "sm_length":
            length = len(short_message) if short_message else 0
            if length > 255:
                return None
            body.append(length)
        elif not _put_mandatory(body, field, fields.get(field.name)):
            return None
    for field in layout.optional:
        value = fields.get(field.name)
        if value is not None and not _put_tlv(body, field, value):
            return None
    return _HEADER.pack(len(body) + 16, layout.command_id, status, sequence) + body


def _put_mandatory(body: bytearray, field: _Field, value: Any) -> bool:
    if field.kind == _INT:
        if value is None:
            value = 0
        if type(value) is not int or not 0 <= value <= 0xFF:
            return False
        body.append(value)
    elif field.kind == _TEXT:
        if value is None:
            value = ""
        if type(value) is not str:
            return False
        try:
            body += value[: field.max - 1].encode("latin-1")
        except UnicodeEncodeError:
            return False
        body.append(0)
    elif value:
        if type(value) is not bytes:
            return False
        body += value
    return True


def _put_tlv(body: bytearray, field: _Field, value: Any) -> bool:
    if field.kind == _INT:
        if type(value) is not int or field.size not in _INT_FORMATS:
            return False
        if not 0 <= value < 1 << (8 * field.size):
            return False
        body += _INT_FORMATS[field.size].pack(field.tag, field.size, value)
    elif field.kind == _TEXT:
        if type(value) is not str or not value.isascii() or len(value) > field.max or field.size:
            return False
        if value:
            body += _TLV_HEADER.pack(field.tag, len(value) + 1) + value.encode() + b"\0"
    elif field.kind == _OCTETS:
        if type(value) is not bytes:
            return False
        if value:
            body += _TLV_HEADER.pack(field.tag, len(value)) + value
    else:
        return False
    return True


def decode(data: bytes) -> tuple[str, int, int, dict[str, Any]] | None:
    """(command, status, sequence, fields) as smpplib would parse them, or None when smpplib
    must do it. `data` is one whole PDU, header included."""
    if len(data) < 16:
        return None
    _length, command_id, status, sequence = _HEADER.unpack_from(data)
    found = _BY_ID.get(command_id)
    if found is None:
        return None
    command, layout = found
    if len(data) == 16:  # smpplib's defaults for an empty body are its own business
        return (command, status, sequence, {}) if not layout.mandatory else None
    fields = _read(layout, bytes(data), 16)
    return None if fields is None else (command, status, sequence, fields)


def _read(layout: _Layout, body: bytes, position: int) -> dict[str, Any] | None:
    fields: dict[str, Any] = {}
    end = len(body)
    for field in layout.mandatory:
        if position == end:
            return None  # smpplib leaves the rest unset; rare enough to leave to it
        if field.kind == _INT:
            fields[field.name] = body[position]
            position += 1
        elif field.kind == _TEXT:
            stop = body.find(b"\0", position)
            if stop < 0:
                return None
            fields[field.name] = body[position:stop]
            position = stop + 1
        else:
            length = fields["sm_length"]
            if position + length > end:
                return None
            fields[field.name] = body[position : position + length]
            position += length
    while position < end:
        if position + 4 > end:
            return None
        tag, length = _TLV_HEADER.unpack_from(body, position)
        position += 4
        field = layout.by_tag.get(tag)
        if field is None or position + length > end:
            return None
        if field.kind == _INT:
            if length != field.size:
                return None
            fields[field.name] = int.from_bytes(body[position : position + length], "big")
        elif field.kind == _TEXT:
            if length < 1:
                return None
            fields[field.name] = body[position : position + length - 1]
        elif field.kind == _OCTETS:
            fields[field.name] = body[position : position + length]
        else:
            return None
        position += length
    return fields
