"""Result: RingRing's ResultCodes on the wire, one member per condition gatewayd tells apart."""

from gatewayd.core.result_codes import Result


def test_members_sharing_a_wire_code_stay_distinct():
    assert len(Result.__members__) == len(list(Result)), "no member is an alias of another"
    assert Result.UNKNOWN_FIELD is not Result.MALFORMED_REQUEST
    assert int(Result.UNKNOWN_FIELD) == int(Result.MALFORMED_REQUEST) == 13


def test_codes_are_ringrings_and_statuses_those_its_clients_read():
    assert {int(r) for r in Result} <= set(range(38))
    assert int(Result.OK) == 0 and Result.OK.http_status == 200
    api_statuses = {r.http_status for r in Result} - {404, 405}  # no API endpoint there
    assert api_statuses == {200, 400, 403, 500}
    assert {r for r in Result if r.http_status == 403} == {
        Result.IP_NOT_ALLOWED,
        Result.RATE_LIMITED,
    }


def test_metric_labels_keep_the_member_names():
    assert Result.BLACKLISTED.name.lower() == "blacklisted"
    assert (int(Result.BLACKLISTED), Result.BLACKLISTED.description) == (
        32,
        "Number To Blacklisted",
    )
