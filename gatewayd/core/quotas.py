"""Trial conditions and quotas: what a submission is refused for (RingRing's ResultCodes 35,
36 and 37), what it is charged, and what is left.

An application in trial (`trial:`) sends until its trial ends, only to its authorized
numbers, and at most its trial quota of messages in all. An application's or account's
`quota:` caps messages or parts per calendar day and month in the quota's time zone. Every
count is a row of the database (storage.quotas), charged in the transaction that stores the
messages, so it holds across restarts and nodes. A message counts in the period it is to be
sent in (its timeScheduled, or now); the sandbox and messages dropped outside the time
windows send nothing and count nothing.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import Connection

from gatewayd.config.schema import QuotaConfig
from gatewayd.core.directory import App
from gatewayd.core.result_codes import Result
from gatewayd.storage import quotas as quota_store
from gatewayd.storage.quotas import Charge

LIMITS = (
    ("messages", "day", "messages_per_day"),
    ("messages", "month", "messages_per_month"),
    ("parts", "day", "parts_per_day"),
    ("parts", "month", "parts_per_month"),
)
ADJECTIVE = {"day": "daily", "month": "monthly"}


@dataclass(frozen=True)
class Quota:
    """One limit: `owner` ("trial", "application" or "account") `name`'s `limit` of `unit`
    per `period` ("trial": for the whole trial)."""

    owner: str
    name: str
    unit: str
    period: str
    limit: int
    zone: tzinfo = UTC

    @property
    def counter(self) -> str:
        return f"{self.owner}:{self.name}:{self.unit}:{self.period}"

    def period_at(self, at: datetime) -> tuple[str, datetime | None]:
        """The period `at` falls in, and when the next one starts (None: never)."""
        if self.period == "trial":
            return "trial", None
        local = at.astimezone(self.zone).date()
        if self.period == "day":
            return local.isoformat(), _midnight(local + timedelta(days=1), self.zone)
        following = date(local.year + local.month // 12, local.month % 12 + 1, 1)
        return f"{local.year:04d}-{local.month:02d}", _midnight(following, self.zone)

    def refusal(self, resets: datetime | None) -> tuple[Result, str]:
        if self.period == "trial":
            return Result.TRIAL_QUOTA_REACHED, f"trial quota of {self.limit} {self.unit} reached"
        assert resets is not None
        detail = f"{self.owner} {ADJECTIVE[self.period]} quota of {self.limit} {self.unit} reached"
        return Result.QUOTA_REACHED, f"{detail}; resets {_moment(resets)}"


@dataclass(frozen=True)
class Priced:
    """A charge of one submission, and how it is refused when it does not fit."""

    charge: Charge
    result: Result
    detail: str


def quotas_of(app: App) -> list[Quota]:
    """Every limit `app`'s messages count against: its trial's, its own, its account's."""
    found: list[Quota] = []
    trial = app.config.trial
    if trial is not None and trial.quota is not None:
        found.append(Quota("trial", app.name, "messages", "trial", trial.quota))
    found += _limits("application", app.name, app.config.quota)
    found += _limits("account", app.account.name, app.account.quota)
    return found


def trial_ended(app: App, at: datetime) -> str | None:
    """Why `app` may not send a message due at `at` (its trial is over), or None."""
    trial = app.config.trial
    if trial is None or trial.until is None or at < trial.until:
        return None
    return f"the trial ended {_moment(trial.until)}"


def authorized_in_trial(app: App, msisdn: str) -> bool:
    """Whether `app` may send to `msisdn`: any number outside a trial or without a list."""
    trial = app.config.trial
    return trial is None or trial.authorized_numbers is None or msisdn in trial.authorized_numbers


def charges(app: App, messages: int, parts: int, at: datetime) -> list[Priced]:
    """What storing `messages` messages of `parts` parts in all, due at `at`, takes."""
    priced = []
    for quota in quotas_of(app):
        period, resets = quota.period_at(at)
        amount = messages if quota.unit == "messages" else parts
        result, detail = quota.refusal(resets)
        priced.append(Priced(Charge(quota.counter, period, amount, quota.limit), result, detail))
    return priced


def remaining_quotas(connection: Connection, app: App, now: datetime) -> list[dict[str, Any]]:
    """Each limit of `app` with what its current period has used and has left, and when
    that period ends (the admin stats, the status page)."""
    quotas = quotas_of(app)
    periods = [quota.period_at(now) for quota in quotas]
    used = quota_store.used(
        connection, [(q.counter, period) for q, (period, _) in zip(quotas, periods, strict=True)]
    )
    standing = []
    for quota, (period, resets) in zip(quotas, periods, strict=True):
        spent = used.get((quota.counter, period), 0)
        standing.append(
            {
                "owner": quota.owner,
                "name": quota.name,
                "unit": quota.unit,
                "period": quota.period,
                "limit": quota.limit,
                "used": spent,
                "remaining": max(0, quota.limit - spent),
                "resets": _moment(resets) if resets else None,
            }
        )
    return standing


def _limits(owner: str, name: str, config: QuotaConfig | None) -> list[Quota]:
    if config is None:
        return []
    return [
        Quota(owner, name, unit, period, limit, config.time_zone)
        for unit, period, field in LIMITS
        if (limit := getattr(config, field)) is not None
    ]


def _midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def _moment(at: datetime) -> str:
    """2026-12-08T00:00Z, or with its offset outside UTC (2026-12-08T00:00+01:00)."""
    text = at.isoformat(timespec="minutes")
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text
