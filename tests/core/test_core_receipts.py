"""Receipts in text and TLV form, and carrier message id matching."""

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from gatewayd.core.carrier_ids import lookup_keys, storage_key
from gatewayd.core.mo_decoding import concat_from_sar, decode_user_data, split_udh
from gatewayd.core.receipts import ReceiptState, parse_receipt
from gatewayd.core.statuses import Status


def test_a_standard_text_receipt():
    receipt = parse_receipt(
        b"id:0123456789 sub:001 dlvrd:001 submit date:2611251200 done date:2611251201 "
        b"stat:DELIVRD err:000 text:Hello"
    )
    assert receipt.message_id == "0123456789" and receipt.state is ReceiptState.DELIVERED
    assert receipt.status is Status.DELIVERED and receipt.final
    assert receipt.done == datetime(2026, 11, 25, 12, 1, tzinfo=UTC) and receipt.error == "000"


def test_odd_case_spacing_and_seconds_are_tolerated():
    receipt = parse_receipt("ID: abc  Stat:undeliv ERR:012 Done Date:261125120159")
    assert receipt.state is ReceiptState.UNDELIVERABLE and receipt.error == "012"
    assert receipt.done == datetime(2026, 11, 25, 12, 1, 59, tzinfo=UTC)


def test_tlvs_win_over_text():
    receipt = parse_receipt(
        b"id:1 stat:ENROUTE",
        {
            "receipted_message_id": b"ABC\x00",
            "message_state": 5,
            "network_error_code": b"\x03\x00\x0b",
        },
    )
    assert (receipt.message_id, receipt.state, receipt.error) == (
        "ABC",
        ReceiptState.UNDELIVERABLE,
        "3:11",
    )


def test_a_rejected_receipt_makes_the_message_rejected():
    assert parse_receipt("id:9 stat:REJECTD err:011").status is Status.REJECTED


def test_intermediate_states_are_not_final():
    assert not parse_receipt("id:1 stat:ENROUTE").final
    assert not parse_receipt("id:1 stat:ACCEPTD").final


@given(st.binary(max_size=300) | st.text(max_size=300))
def test_the_parser_never_raises(data):
    parse_receipt(data)


def test_ids_match_across_case_zeros_and_bases():
    stored_hex = storage_key("00001A2B", "auto")
    assert stored_hex in lookup_keys("1a2b", "auto")
    assert stored_hex in lookup_keys("6699", "auto"), "decimal receipt for a hex id"
    stored_dec = storage_key("6699", "auto")
    assert lookup_keys("1A2B", "auto")[0] != stored_dec
    assert stored_dec in lookup_keys("1A2B", "auto"), "hex receipt for a decimal id"
    assert lookup_keys("1234", "auto")[0] == "1234", "the id as written is tried first"
    assert storage_key("1A2B", "hex_to_dec") == "6699" == lookup_keys("006699", "hex_to_dec")[0]
    assert storage_key("6699", "dec_to_hex") == lookup_keys("1a2b", "dec_to_hex")[0]
    assert storage_key("AbC", "exact") not in lookup_keys("abc", "exact")


def test_udh_16_bit_and_sar_concatenation():
    concat, data = split_udh(b"\x06\x08\x04\x12\x34\x03\x02hello")
    assert (concat.reference, concat.total, concat.seq, data) == (0x1234, 3, 2, b"hello")
    assert split_udh(b"\x05\x00\x03\x01\x02\x05x")[0] is None, "seq beyond total is ignored"
    assert concat_from_sar({"sar_msg_ref_num": 9, "sar_total_segments": 2, "sar_segment_seqnum": 1})
    assert concat_from_sar({"sar_msg_ref_num": 9}) is None


def test_mo_data_codings():
    assert decode_user_data(0, b"Hello \x1b\x65") == "Hello €"
    assert decode_user_data(0, "café".encode("latin-1")) == "café", "Latin-1 under dc 0"
    assert decode_user_data(1, b"plain") == "plain"
    assert decode_user_data(3, "été".encode("latin-1")) == "été"
    assert decode_user_data(8, "日本😀".encode("utf-16-be")) == "日本😀"


@given(st.integers(0, 255), st.binary(max_size=200))
def test_mo_decoding_never_raises(data_coding, data):
    decode_user_data(data_coding, data)
    split_udh(data)
