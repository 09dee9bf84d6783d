"""The status page's history: rates over a window from sampled totals, chart points, and a
ring that stays bounded (a fake clock moves time)."""

from datetime import UTC, datetime, timedelta

from gatewayd.core.clock import Clock
from gatewayd.core.status_history import StatusHistory

KEY = ("submits", "a")
LEVEL = ("webhook_backlog", "all")


async def test_rates_and_chart_points_come_from_the_samples():
    clock = Clock()
    clock.set(datetime(2026, 12, 7, 12, 0, tzinfo=UTC))
    totals = {KEY: 0.0}
    backlog = {LEVEL: 3.0}

    async def levels():
        return dict(backlog)

    history = StatusHistory(lambda: dict(totals), levels, clock, every_s=5, span_s=20)
    await history.sample()
    for submitted in (10.0, 10.0):  # 2/s, then none
        clock.advance(timedelta(seconds=5))
        totals[KEY] = submitted
        await history.sample()

    just_after = history.chart([KEY, LEVEL], history.now())
    assert just_after["series"] == {"submits/a": [2.0, 0.0], "webhook_backlog/all": [3.0, 3.0]}

    clock.advance(timedelta(seconds=3))
    totals[KEY] = 16.0
    current = history.now()
    chart = history.chart([KEY, LEVEL], current)
    assert chart["series"]["submits/a"] == [2.0, 0.0, 2.0], "now ends it, 3 s after the last"
    assert len(chart["times"]) == 3
    assert history.rate(current, KEY, 60) == 16.0 / 13, "younger than the window: since start"
    assert history.rate(current, KEY, 5) == (16.0 - 10.0) / 8, "from the sample before 5 s ago"

    for _ in range(10):
        clock.advance(timedelta(seconds=5))
        await history.sample()
    assert len(history.samples) == 5, "one window of 20 s, every 5 s"
    assert history.rate(history.now(), KEY, 60) == 0.0
