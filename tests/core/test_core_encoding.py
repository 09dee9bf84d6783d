"""Encoding and segmentation: examples, and properties that must hold for any text."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatewayd.core.encoding import (
    Alphabet,
    Encoding,
    NotEncodable,
    encode_text,
    parse_encoding,
)
from gatewayd.core.gsm import BASIC, ESCAPE, EXTENSION
from gatewayd.core.mo_decoding import decode_user_data, split_udh
from gatewayd.core.segmentation import build_parts, split_payload

GSM_CHARS = [c for c in BASIC if c != "\x1b"] + list(EXTENSION)


def test_encoding_names_and_numbers():
    assert parse_encoding("Text") is Encoding.TEXT and parse_encoding(0) is Encoding.TEXT
    assert parse_encoding("UNICODE") is Encoding.UNICODE and parse_encoding("8") is Encoding.UNICODE
    assert parse_encoding(" auto ") is Encoding.AUTO
    with pytest.raises(ValueError):
        parse_encoding("utf8")


def test_extension_characters_count_two_septets():
    encoded = encode_text("€[]", Encoding.TEXT)
    assert encoded.alphabet is Alphabet.GSM and encoded.number_of_chars == 6
    assert encoded.payload == bytes([ESCAPE, 0x65, ESCAPE, 0x3C, ESCAPE, 0x3E])


def test_auto_replaces_faithfully_and_falls_back_to_unicode_only_when_needed():
    encoded = encode_text("“Hello” – it’s café… ", Encoding.AUTO)
    assert encoded.alphabet is Alphabet.GSM
    assert encoded.text == '"Hello" - it\'s café... '
    assert encode_text("Привет", Encoding.AUTO).alphabet is Alphabet.UCS2
    assert encode_text("ok 😀", Encoding.AUTO).number_of_chars == 5, "a surrogate pair counts 2"


def test_decomposed_accents_are_composed_before_choosing_the_alphabet():
    encoded = encode_text("cafe\u0301", Encoding.AUTO)
    assert encoded.alphabet is Alphabet.GSM and encoded.text == "café"


def test_text_refuses_what_it_cannot_carry_and_names_it():
    with pytest.raises(NotEncodable) as raised:
        encode_text("hi 😀", Encoding.TEXT)
    assert raised.value.characters == ["😀"]


@pytest.mark.parametrize(
    ("length", "char", "parts"),
    [
        (160, "a", 1),
        (161, "a", 2),
        (306, "a", 2),
        (307, "a", 3),
        (70, "ж", 1),
        (71, "ж", 2),
        (134, "ж", 2),
        (135, "ж", 3),
    ],
)
def test_part_boundaries(length, char, parts):
    encoded = encode_text(char * length, Encoding.AUTO)
    assert len(split_payload(encoded)) == parts


def test_an_escape_sequence_is_never_split():
    encoded = encode_text("a" * 152 + "€" + "b" * 10, Encoding.TEXT)
    first, second = split_payload(encoded)
    assert len(first) == 152 and second.startswith(bytes([ESCAPE, 0x65]))


def test_udh_sar_and_payload_shapes():
    encoded = encode_text("x" * 200, Encoding.TEXT)
    udh = build_parts(encoded, "udh", 42)
    assert [p.short_message[:6] for p in udh] == [
        b"\x05\x00\x03\x2a\x02\x01",
        b"\x05\x00\x03\x2a\x02\x02",
    ]
    assert all(p.esm_class == 0x40 for p in udh)
    sar = build_parts(encoded, "sar", 300)
    assert [p.tlvs["sar_segment_seqnum"] for p in sar] == [1, 2]
    assert sar[0].tlvs["sar_msg_ref_num"] == 300 and sar[0].esm_class == 0
    payload = build_parts(encoded, "payload", 1)
    assert len(payload) == 1 and payload[0].tlvs["message_payload"] == b"x" * 200


texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=800)
gsm_texts = st.text(alphabet=st.sampled_from(GSM_CHARS), max_size=800)


@settings(max_examples=200, deadline=None)
@given(text=texts, method=st.sampled_from(["udh", "sar"]))
def test_any_text_survives_encode_split_reassemble_decode(text, method):
    encoded = encode_text(text, Encoding.AUTO)
    parts = build_parts(encoded, method, 7)
    single, multi = (160, 153) if encoded.alphabet is Alphabet.GSM else (140, 134)
    limit = single if len(parts) == 1 else multi
    payloads = []
    for part in parts:
        if part.esm_class & 0x40:
            concat, data = split_udh(part.short_message)
            assert concat is not None and concat.total == len(parts)
        else:
            data = part.short_message
        assert len(data) <= limit
        payloads.append(data)
    decoded = decode_user_data(encoded.data_coding, b"".join(payloads))
    assert decoded == encoded.text


@settings(max_examples=200, deadline=None)
@given(text=gsm_texts)
def test_gsm_text_is_kept_as_is_and_counted_in_septets(text):
    encoded = encode_text(text, Encoding.TEXT)
    assert encoded.text == text
    assert encoded.number_of_chars == sum(2 if c in EXTENSION else 1 for c in text)


@settings(max_examples=200, deadline=None)
@given(text=texts)
def test_parts_never_split_a_character(text):
    encoded = encode_text(text, Encoding.UNICODE)
    for payload in split_payload(encoded):
        payload.decode("utf-16-be")  # raises on half a surrogate pair
