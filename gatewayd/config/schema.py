"""The configuration file's shape: typed, validated, immutable.

`config/gatewayd.example.yaml` documents every key; keep the two in step.
"""

from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from gatewayd.config.types import (
    HttpUrl,
    IpAddress,
    IpNetwork,
    Keyword,
    ListenAddress,
    LowerWord,
    NumberPrefix,
    TextedWords,
    TimeOfDay,
    TimeZone,
    UpperWord,
)

Day = Annotated[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], LowerWord]
ALL_DAYS: list[Day] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Seconds = Annotated[float, Field(gt=0)]


class Section(BaseModel):
    """Every section refuses unknown keys and is immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class DatabaseConfig(Section):
    url: str = "sqlite:////var/lib/gatewayd/gatewayd.db"
    auto_migrate: bool | None = None
    sqlite_synchronous: Annotated[Literal["full", "normal"], LowerWord] = "full"
    sqlite_cache_mib: Annotated[int, Field(ge=1, le=4096)] | None = None
    """SQLite's page cache per connection; None keeps SQLite's own (2 MiB). More helps a
    database of millions of messages (fewer pages read back from the OS) but, as every
    connection's cache is dropped when another one has written, may cost CPU on a small one
    (README, Storage: single runs, not yet decided)."""
    pool_size: Annotated[int, Field(ge=1, le=100)] = 5
    max_batch: Annotated[int, Field(ge=1, le=10_000)] = 500
    commit_interval_s: Annotated[float, Field(ge=0, le=1)] = 0.02
    """An accepted write waits for the tick that starts this long after the last one (at
    once when the writer was idle longer): at low rates several share a commit."""
    claim_lease_s: Seconds = 120.0
    instance_lease_s: Seconds = 30.0
    """An instance renews its lease every third of this; one that has not renewed it for this
    long is dead and forgotten (its claims run out after claim_lease_s)."""

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @property
    def migrates_at_start(self) -> bool:
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate


class HttpConfig(Section):
    listen: list[ListenAddress] = ["127.0.0.1:8080"]
    trusted_proxies: list[IpNetwork] = []
    max_body_bytes: Annotated[int, Field(ge=1024, le=16_777_216)] = 1_048_576
    header_timeout_s: Seconds = 10.0
    body_timeout_s: Seconds = 30.0
    idle_timeout_s: Seconds = 60.0
    max_connections: Annotated[int, Field(ge=1)] = 1000
    write_timeout_s: Seconds = 10.0
    """A request whose write has not started by then is answered 500 (Retry-After), unstored."""
    idempotency_window_s: Seconds = 86_400.0
    """How long an Idempotency-Key is remembered: a retry within it gets the first answer."""
    workers: Annotated[int, Field(ge=0, le=64)] | Literal["auto"] = "auto"
    """Processes serving the Message API beside the carrier process, sharing its listening
    sockets; 0 serves it in the carrier process itself. "auto": see `worker_count`."""

    def worker_count(self, cpus: int | None) -> int:
        """The HTTP worker processes to run: `workers`, or for "auto" one per core beyond the
        first two (the carrier process keeps one busy; on two cores a worker costs more than it
        gives, measured in README, Worker processes), at most 8."""
        if self.workers != "auto":
            return self.workers
        return max(0, min(8, (cpus or 1) - 2))


class AdminToken(Section):
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")]
    """Who uses it: written in the log and the audit of every admin command."""
    token: SecretStr


class AdminConfig(Section):
    listen: list[ListenAddress] = ["127.0.0.1:8081"]
    token: SecretStr | None = None
    """One token without a name: its commands are recorded as "admin"."""
    tokens: list[AdminToken] = []

    @model_validator(mode="after")
    def _names_unique(self) -> "AdminConfig":
        names = [token.name for token in self.named_tokens]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"admin token names must differ: {', '.join(duplicates)}")
        return self

    @property
    def named_tokens(self) -> list[AdminToken]:
        """Every accepted token with its name, `token` first (as "admin")."""
        unnamed = [AdminToken(name="admin", token=self.token)] if self.token else []
        return unnamed + list(self.tokens)


class SmtpConfig(Section):
    listen: list[ListenAddress] = ["127.0.0.1:2525"]
    domain: str
    auth_without_tls: bool = False
    use_subject: bool = False
    max_message_bytes: Annotated[int, Field(ge=1024)] = 262_144
    tls_certificate: str | None = None
    tls_key: str | None = None


class SmppServerConfig(Section):
    listen: list[ListenAddress] = ["0.0.0.0:2775"]
    system_id: str = "gatewayd"
    max_pdu_bytes: Annotated[int, Field(ge=1024)] = 65_536
    failed_login_delay_s: Seconds = 1.0
    max_connections: Annotated[int, Field(ge=1)] = 100
    """Connections beyond this many (bound or not) are closed at once."""
    bind_timeout_s: Seconds = 10.0
    """A connection that has not bound within this time is closed."""
    tls_certificate: str | None = None
    """PEM file: with it every connection is SMPP over TLS (carriers' side: `tls: true`)."""
    tls_key: str | None = None


class WebhooksConfig(Section):
    source_addresses: list[IpAddress] = []
    timeout_s: Seconds = 10.0
    connect_timeout_s: Seconds = 5.0
    max_per_host: Annotated[int, Field(ge=1)] = 8
    retry_base_s: Seconds = 10.0
    retry_max_s: Seconds = 3600.0
    retry_horizon_s: Seconds = 86_400.0


class SimulatorConfig(Section):
    receipt_delay_s: Annotated[float, Field(ge=0)] = 0.5
    delivered_ratio: Annotated[float, Field(ge=0, le=1)] = 1.0
    hex_ids: bool = False


class CarrierConfig(Section):
    name: str
    host: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] = 2775
    system_id: str | None = None
    password: SecretStr | None = None
    system_type: str = ""
    bind: Annotated[Literal["transceiver", "transmitter_receiver"], LowerWord] = "transceiver"
    binds: Annotated[int, Field(ge=1, le=64)] = 1
    window: Annotated[int, Field(ge=1, le=1024)] = 10
    max_tps: Annotated[float, Field(gt=0)] | None = None
    tls: bool = False
    tls_verify: bool = True
    enquire_link_s: Seconds = 30.0
    response_timeout_s: Seconds = 10.0
    reconnect_min_s: Seconds = 1.0
    reconnect_max_s: Seconds = 60.0
    concatenation: Annotated[Literal["udh", "sar", "payload"], LowerWord] = "udh"
    message_id_format: Annotated[
        Literal["auto", "exact", "case_insensitive", "hex_to_dec", "dec_to_hex"], LowerWord
    ] = "auto"
    bulk_sender: str | None = None
    simulator: bool | SimulatorConfig = False

    @model_validator(mode="after")
    def _needs_address_unless_simulated(self) -> "CarrierConfig":
        if not self.simulator and not (self.host and self.system_id):
            raise ValueError("host and system_id are required unless simulator is set")
        return self

    @property
    def simulator_settings(self) -> SimulatorConfig | None:
        if self.simulator is True:
            return SimulatorConfig()
        return self.simulator or None


class RouteConfig(Section):
    prefix: NumberPrefix = ""
    carriers: Annotated[list[str], Field(min_length=1)]


class NumberConfig(Section):
    number: Annotated[str, Field(pattern=r"^[0-9]{3,15}$")]
    application: str | None = None


class TimeWindowConfig(Section):
    days: Annotated[list[Day], Field(min_length=1)] = ALL_DAYS
    start: TimeOfDay
    end: TimeOfDay


class WebhookTargetConfig(Section):
    url: HttpUrl
    method: Annotated[Literal["POST", "GET"], UpperWord] = "POST"
    format: Annotated[Literal["JSON", "XML"], UpperWord] = "JSON"


class ApplicationWebhooksConfig(Section):
    status: WebhookTargetConfig | None = None
    final_statuses_only: bool = False
    """Status webhooks only for final statuses (Delivered, Undeliverable…), not Submitted."""
    incoming: WebhookTargetConfig | None = None
    signing_secret: SecretStr | None = None


class ApplicationSmppConfig(Section):
    system_id: Annotated[str, Field(min_length=1, max_length=15)]
    password: SecretStr
    ip_whitelist: list[IpNetwork] = []
    max_binds: Annotated[int, Field(ge=1)] = 4
    window: Annotated[int, Field(ge=1)] = 64
    max_tps: Annotated[float, Field(gt=0)] | None = None
    priority_flag: bool = False
    """Take a submit_sm's priority_flag (0-3) as its message's priority."""


class ApplicationSmtpConfig(Section):
    allowed_senders: list[str] = []


Msisdn = Annotated[str, Field(pattern=r"^[0-9]{6,15}$")]
Limit = Annotated[int, Field(ge=1)]


class TrialConfig(Section):
    """An application in trial (RingRing's trial conditions, ResultCodes 35-37)."""

    until: datetime | None = None
    """When the trial ends (ISO 8601; without an offset, UTC); None: it does not end."""
    authorized_numbers: list[Msisdn] | None = None
    """The only recipients allowed; None: any recipient."""
    quota: Limit | None = None
    """Messages the trial may send in all, counted in the database."""

    @field_validator("until")
    @classmethod
    def _in_utc_without_offset(cls, until: datetime | None) -> datetime | None:
        if until is not None and until.tzinfo is None:
            return until.replace(tzinfo=ZoneInfo("UTC"))
        return until


class QuotaConfig(Section):
    """Messages or parts per calendar day and month of `time_zone`, counted in the database."""

    messages_per_day: Limit | None = None
    messages_per_month: Limit | None = None
    parts_per_day: Limit | None = None
    parts_per_month: Limit | None = None
    time_zone: TimeZone = ZoneInfo("UTC")


class KeywordsConfig(Section):
    """Keywords that route a number's incoming messages to this application, whichever
    application the number is assigned to (a shared short code)."""

    number: Annotated[str, Field(pattern=r"^[0-9]{3,15}$")]
    words: Annotated[list[Keyword], Field(min_length=1)]


class ApplicationConfig(Section):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    api_keys: list[Annotated[str, Field(min_length=8)]] = []
    default_number: str | None = None
    alphanumeric_sender: bool = False
    encoding: Annotated[Literal["text", "unicode", "auto"], LowerWord] = "auto"
    max_parts: Annotated[int, Field(ge=1, le=255)] = 10
    time_zone: TimeZone = ZoneInfo("UTC")
    time_windows: list[TimeWindowConfig] = []
    webhooks: ApplicationWebhooksConfig = ApplicationWebhooksConfig()
    smpp: ApplicationSmppConfig | None = None
    smtp: ApplicationSmtpConfig = ApplicationSmtpConfig()
    priority: Annotated[int, Field(ge=0, le=3)] = 0
    """Due messages of a higher priority are submitted first (0-3, as SMPP's priority_flag)."""
    submit_max_tps: Annotated[float, Field(gt=0)] | None = None
    """At most this many messages a second towards the carriers (per node); the others wait."""
    trial: TrialConfig | None = None
    quota: QuotaConfig | None = None
    keywords: list[KeywordsConfig] = []


class AccountConfig(Section):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    blacklist: bool = False
    debug: bool = False
    ip_whitelist: list[IpNetwork] = []
    stop_words: Annotated[list[TextedWords], Field(min_length=1)] | None = None
    """What opts a sender out (the whole message); None: gatewayd's default set."""
    start_words: Annotated[list[TextedWords], Field(min_length=1)] | None = None
    stop_reply: str | None = None
    start_reply: str | None = None
    quota: QuotaConfig | None = None
    help_words: Annotated[list[TextedWords], Field(min_length=1)] = ["HELP"]
    help_reply: Annotated[str, Field(min_length=1)] | None = None
    """Sent back to a sender who texts one of help_words; None: they are ordinary messages."""
    numbers: list[NumberConfig] = []
    applications: list[ApplicationConfig] = []


Days = Annotated[float, Field(gt=0)]


class RetentionConfig(Section):
    """How long each kind of record is kept once nothing needs it any more; null keeps it
    for good. What is still in flight (a message not final, a pending delivery) is never
    deleted."""

    every_s: Seconds = 60.0
    batch: Annotated[int, Field(ge=1, le=10_000)] = 500
    messages_days: Days | None = 30.0
    receipts_days: Days | None = 30.0
    unmatched_receipts_days: Days | None = 3.0
    incoming_days: Days | None = 30.0
    fetched_poll_days: Days | None = 1.0
    unfetched_poll_days: Days | None = 30.0
    outbox_days: Days | None = 7.0
    request_logs_days: Days | None = 7.0


class LoggingConfig(Section):
    format: Annotated[Literal["text", "json"], LowerWord] = "text"
    level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], UpperWord] = "INFO"


class Config(Section):
    node_id: str | None = None
    maintenance: bool = False
    """Sends are refused with ResultCode 34 (Maintenance) while the carriers drain what was
    accepted; `gatewayd admin maintenance on` does the same without editing this file."""
    database: DatabaseConfig = DatabaseConfig()
    http: HttpConfig = HttpConfig()
    admin: AdminConfig | None = None
    smtp: SmtpConfig | None = None
    smpp_server: SmppServerConfig | None = None
    webhooks: WebhooksConfig = WebhooksConfig()
    retention: RetentionConfig = RetentionConfig()
    logging: LoggingConfig = LoggingConfig()
    carriers: list[CarrierConfig] = []
    routes: list[RouteConfig] = []
    accounts: list[AccountConfig] = []
