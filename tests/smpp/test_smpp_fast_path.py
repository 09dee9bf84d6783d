"""The fast path gives smpplib's bytes and fields, or leaves the PDU to smpplib.

Fields and PDUs are generated (valid ones, then cut, spliced and given odd values): whenever
the fast path answers, smpplib must give the same answer; and for the PDUs every message
crosses it must answer, or it saves nothing.
"""

import hypothesis
import pytest
from hypothesis import strategies as st
from smpplib import consts as smpp_consts

from gatewayd.protocols.smpp import codec, fast_path
from gatewayd.protocols.smpp.codec import PduError

SETTINGS = hypothesis.settings(max_examples=400, derandomize=True, database=None, deadline=None)

SUBMIT = {
    "source_addr": "8686",
    "source_addr_ton": 1,
    "source_addr_npi": 1,
    "destination_addr": "32470000001",
    "dest_addr_ton": 1,
    "dest_addr_npi": 1,
    "registered_delivery": 1,
    "validity_period": "261128120000000+",
    "replace_if_present_flag": 0,
    "data_coding": 0,
    "short_message": b"\x05\x00\x03\x07\x02\x01Hello",
    "esm_class": 0x40,
}
RECEIPT = {
    "source_addr": "32470000001",
    "destination_addr": "8686",
    "esm_class": 4,
    "short_message": b"id:4f2a sub:001 dlvrd:001 submit date:2611251200 done date:2611251200"
    b" stat:DELIVRD err:000 text:",
    "receipted_message_id": "4f2a",
    "message_state": 2,
    "network_error_code": b"\x03\x00\x00",
}
EVERY_MESSAGE = [
    ("submit_sm", SUBMIT),
    ("submit_sm", {**SUBMIT, "short_message": b"", "message_payload": b"x" * 300}),
    (
        "submit_sm",
        {**SUBMIT, "sar_msg_ref_num": 7, "sar_total_segments": 2, "sar_segment_seqnum": 1},
    ),
    ("submit_sm_resp", {"message_id": "4f2a"}),
    ("deliver_sm", RECEIPT),
    ("deliver_sm_resp", {}),
    ("enquire_link", {}),
    ("enquire_link_resp", {}),
]


def smpplib_encode(command: str, fields: dict) -> bytes | None:
    try:
        return codec.encode_with_smpplib(command, 9, 0, fields)
    except Exception:
        return None


def smpplib_decode(data: bytes) -> codec.Pdu | None:
    try:
        return codec.decode_with_smpplib(data)
    except PduError:
        return None


@pytest.mark.parametrize(("command", "fields"), EVERY_MESSAGE)
def test_the_pdus_every_message_crosses_take_the_fast_path_both_ways(command, fields):
    encoded = fast_path.encode(command, 9, 0, fields)
    assert encoded is not None
    assert encoded == smpplib_encode(command, fields)
    decoded = fast_path.decode(encoded)
    assert decoded is not None
    assert codec.Pdu(*decoded) == smpplib_decode(encoded)


def test_other_commands_and_unknown_fields_are_left_to_smpplib():
    assert fast_path.encode("bind_transceiver", 1, 0, {"system_id": "x"}) is None
    assert fast_path.encode("submit_sm", 1, 0, {**SUBMIT, "sourceaddr": "8686"}) is None
    bind = codec.encode("bind_transceiver", 1, system_id="x", password="y")
    assert fast_path.decode(bind) is None
    assert codec.decode(bind).fields["system_id"] == b"x"


ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-2, max_value=70_000),
    st.text(max_size=30),
    st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=70),
    st.binary(max_size=300),
)
COMMANDS = st.sampled_from(fast_path.HOT_COMMANDS)


@st.composite
def field_sets(draw) -> tuple[str, dict]:
    command = draw(COMMANDS)
    names = [
        f.name for f in fast_path._LAYOUTS[command].mandatory + fast_path._LAYOUTS[command].optional
    ]
    names += ["sm_length", "no_such_field"]
    chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=12)) if names else []
    return command, {name: draw(ODD_VALUES) for name in chosen}


@SETTINGS
@hypothesis.given(field_sets())
def test_whatever_the_fast_path_encodes_is_what_smpplib_encodes(command_and_fields):
    command, fields = command_and_fields
    fast = fast_path.encode(command, 9, 0, fields)
    if fast is not None:
        assert fast == smpplib_encode(command, fields)


def tlv(name: str, value: bytes) -> bytes:
    return (
        smpp_consts.OPTIONAL_PARAMS[name].to_bytes(2, "big") + len(value).to_bytes(2, "big") + value
    )


@st.composite
def mangled_pdus(draw) -> bytes:
    command, fields = draw(st.sampled_from(EVERY_MESSAGE))
    data = bytearray(codec.encode(command, 9, **fields))
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["cut", "flip", "append", "tlv"]))
        if action == "cut" and len(data) > 16:
            del data[draw(st.integers(16, len(data) - 1)) :]
        elif action == "flip" and len(data) > 16:
            data[draw(st.integers(16, len(data) - 1))] = draw(st.integers(0, 255))
        elif action == "append":
            data += draw(st.binary(max_size=8))
        else:
            name = draw(st.sampled_from(sorted(smpp_consts.OPTIONAL_PARAMS)))
            data += tlv(name, draw(st.binary(max_size=4)))
    data[:4] = len(data).to_bytes(4, "big")
    return bytes(data)


@SETTINGS
@hypothesis.given(mangled_pdus())
def test_whatever_the_fast_path_decodes_smpplib_decodes_the_same(data):
    fast = fast_path.decode(data)
    if fast is not None:
        assert codec.Pdu(*fast) == smpplib_decode(data)
