"""StatusCodes inside RingRing's ranges, and which of them are final."""

from gatewayd.core.statuses import STATUS_DESCRIPTIONS, Status

NOT_FINAL = {Status.SCHEDULED, Status.QUEUED, Status.SUBMITTED}


def test_every_status_sits_in_the_ringring_range_of_its_meaning():
    assert Status.SCHEDULED == 0 and Status.QUEUED == 10, "RingRing's own codes"
    assert 100 <= Status.SUBMITTED < 200 and Status.DELIVERED == 200
    not_delivered_by_the_carrier = {Status.UNDELIVERABLE, Status.EXPIRED, Status.REJECTED}
    assert all(300 <= s < 400 for s in not_delivered_by_the_carrier)
    assert 400 <= Status.UNKNOWN < 500
    assert all(800 <= s < 900 for s in (Status.BLACKLISTED, Status.DROPPED, Status.CANCELLED))


def test_final_statuses_are_those_nothing_changes_any_more():
    assert {s for s in Status if not s.final} == NOT_FINAL
    assert set(STATUS_DESCRIPTIONS) == set(Status)


def test_status_codes_are_strings_as_ringring_sends_them():
    assert Status.DELIVERED.code == "200" and Status.SCHEDULED.code == "0"
    assert all(Status(int(s.code)) is s for s in Status)
    assert Status.CANCELLED.description == "Cancelled"
