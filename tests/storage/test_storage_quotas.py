"""Quota counters on both databases: a request's charges are taken all or none, requests in
one transaction share the room in order, and a period's count is its own."""

from sqlalchemy import select

from gatewayd.storage.quotas import Charge, charge_all, used
from gatewayd.storage.tables import quota_counters


def test_each_request_takes_all_its_charges_or_none(engine):
    day, month = ("app:day", "2026-12-07"), ("app:month", "2026-12")

    def both(amount: int) -> list[Charge]:
        return [Charge(*day, amount, 5), Charge(*month, amount, 7)]

    with engine.begin() as connection:
        outcomes = charge_all(connection, [both(3), both(3), both(2), [], both(1)])
    assert outcomes == [None, Charge(*day, 3, 5), None, None, Charge(*day, 1, 5)]
    with engine.connect() as connection:
        assert used(connection, [day, month, ("app:day", "2026-12-08")]) == {day: 5, month: 5}


def test_a_refused_request_gives_back_what_it_took_before_the_refusal(engine):
    with engine.begin() as connection:
        charge_all(connection, [[Charge("b", "trial", 4, 4)]])
        refused = charge_all(connection, [[Charge("a", "trial", 1, 9), Charge("b", "trial", 1, 4)]])
    assert refused == [Charge("b", "trial", 1, 4)]
    with engine.connect() as connection:
        rows = connection.execute(select(quota_counters).order_by(quota_counters.c.counter)).all()
    assert [(row.counter, row.used) for row in rows] == [("a", 0), ("b", 4)]


def test_a_request_larger_than_the_limit_is_refused_on_an_empty_counter(engine):
    with engine.begin() as connection:
        assert charge_all(connection, [[Charge("c", "2026-12", 6, 5)]]) == [
            Charge("c", "2026-12", 6, 5)
        ]
    with engine.connect() as connection:
        assert used(connection, [("c", "2026-12")]) == {("c", "2026-12"): 0}
