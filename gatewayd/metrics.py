"""Prometheus metrics: one registry per daemon, so tests and embedded runs never collide."""

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from gatewayd.core.result_codes import Result
from gatewayd.protocols.smpp.codec import status_name
from gatewayd.storage.writer import Writer

if TYPE_CHECKING:
    from gatewayd.core.carriers import CarrierPool
    from gatewayd.core.retention import Retention

CONTENT_TYPE = CONTENT_TYPE_LATEST


def mode(sandbox: bool) -> str:
    """The `mode` label of the per-message metrics: the sandbox's messages never reach a
    carrier, so a dashboard of live traffic selects `mode="live"`."""
    return "sandbox" if sandbox else "live"


class HttpMetrics:
    """What an HTTP listener counts; all that an HTTP worker process has (in prometheus-client's
    multiprocess mode there, so that the carrier process can merge every worker's counts)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "gatewayd_http_requests",
            "HTTP requests answered",
            ["listener", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "gatewayd_http_request_seconds",
            "HTTP request handling time",
            ["listener"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=registry,
        )

        self.refusals = Counter(
            "gatewayd_api_refusals",
            "Message API requests refused, by ResultCode",
            ["result_code"],
            registry=registry,
        )

    def count_http(self, listener: str, status: int, seconds: float) -> None:
        self.requests.labels(listener, str(status)).inc()
        self.latency.labels(listener).observe(seconds)

    def count_refusal(self, result: int) -> None:
        self.refusals.labels(str(result)).inc()


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._worker_files: str | None = None
        r = self.registry
        self.config_generation = Gauge(
            "gatewayd_config_generation",
            "Configuration loads since start (1 = initial)",
            registry=r,
        )
        self.config_reloads = Counter(
            "gatewayd_config_reloads", "SIGHUP reloads by outcome", ["outcome"], registry=r
        )
        self.http = HttpMetrics(r)
        self.http_worker_restarts = Counter(
            "gatewayd_http_worker_restarts",
            "HTTP worker processes started again after one exited",
            registry=r,
        )
        self.count_http = self.http.count_http
        self.accepted = Counter(
            "gatewayd_messages_accepted",
            "Messages accepted (committed)",
            ["application", "front_door", "mode"],
            registry=r,
        )
        self.webhook_attempts = Counter(
            "gatewayd_webhook_attempts",
            "Webhook requests by outcome",
            ["application", "kind", "outcome"],
            registry=r,
        )
        self.webhook_latency = Histogram(
            "gatewayd_webhook_request_seconds",
            "Webhook request duration",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.statuses = Counter(
            "gatewayd_message_statuses",
            "Messages reaching Submitted or a final status",
            ["application", "carrier", "status", "mode"],
            registry=r,
        )
        self.receipt_latency = Histogram(
            "gatewayd_receipt_latency_seconds",
            "From submit_sm_resp to the final receipt",
            ["carrier"],
            buckets=(0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600, 86400),
            registry=r,
        )
        self.refused = Counter(
            "gatewayd_recipients_refused",
            "Recipients refused by policy",
            ["application", "reason", "mode"],
            registry=r,
        )
        self.retention_deleted = Counter(
            "gatewayd_retention_deleted_rows",
            "Rows deleted by retention, by table",
            ["table"],
            registry=r,
        )

    def count_accepted(self, application: str, front_door: str, sandbox: bool) -> None:
        self.accepted.labels(application, front_door, mode(sandbox)).inc()

    def count_refused(self, application: str, reason: str, sandbox: bool) -> None:
        self.refused.labels(application, reason, mode(sandbox)).inc()

    def count_status(self, application: str, carrier: str, status, sandbox: bool = False) -> None:
        self.statuses.labels(application, carrier, status.description, mode(sandbox)).inc()

    def observe_receipt(self, carrier: str, seconds: float) -> None:
        self.receipt_latency.labels(carrier).observe(max(seconds, 0.0))

    def count_webhook(self, job, attempt) -> None:
        outcome = "delivered" if attempt.delivered else "failed"
        self.webhook_attempts.labels(job.application, job.kind, outcome).inc()
        self.webhook_latency.observe(attempt.duration_s)

    def watch_inbound(self, inbound, receipts) -> None:
        """Incoming messages to numbers no application owns; receipts matching no part."""
        self.registry.register(_InboundCollector(inbound, receipts))

    def watch_carriers(self, pool: "CarrierPool") -> None:
        self.registry.register(_CarrierCollector(pool))

    def watch_writer(self, writer: Writer) -> None:
        self.registry.register(_WriterCollector(writer))

    def count_deleted(self, table: str, rows: int) -> None:
        self.retention_deleted.labels(table).inc(rows)

    def watch_tables(self, retention: "Retention") -> None:
        self.registry.register(_TableCollector(retention))

    def merge_workers(self, directory: str | None) -> None:
        """Add, to what `render` shows, the counts of the worker processes that keep them in
        `directory` (prometheus-client's multiprocess files); None stops."""
        self._worker_files = directory

    def render(self) -> bytes:
        return generate_latest(self._everything())

    def totals(self) -> dict[tuple[str, str], float]:
        """The running totals the status page turns into rates, read off the counters kept
        anyway (the workers' too): ("submits" | "throttled" | "submit_errors" | "receipts",
        carrier), ("requests", listener), ("accepted", front door), ("refusals", ResultCode)."""
        totals: dict[tuple[str, str], float] = {}

        def add(key: tuple[str, str], value: float) -> None:
            totals[key] = totals.get(key, 0.0) + value

        for family in self._everything().collect():
            for sample in family.samples:
                labels = sample.labels
                if sample.name == "gatewayd_carrier_submit_results_total":
                    add((_submit_kind(labels["status"]), labels["carrier"]), sample.value)
                elif sample.name == "gatewayd_receipt_latency_seconds_count":
                    add(("receipts", labels["carrier"]), sample.value)
                elif sample.name == "gatewayd_http_requests_total":
                    add(("requests", labels["listener"]), sample.value)
                elif sample.name == "gatewayd_messages_accepted_total":
                    add(("accepted", labels["front_door"]), sample.value)
                elif sample.name == "gatewayd_api_refusals_total":
                    add(("refusals", labels["result_code"]), sample.value)
                elif sample.name == "gatewayd_recipients_refused_total":
                    result = Result.__members__.get(labels["reason"].upper(), Result.INTERNAL_ERROR)
                    add(("refusals", str(int(result))), sample.value)
        return totals

    def _everything(self) -> "CollectorRegistry | _Merged":
        if self._worker_files is None:
            return self.registry
        workers = MultiProcessCollector(None, path=self._worker_files)
        return _Merged([self.registry, workers])


def _submit_kind(status: str) -> str:
    if status == "ESME_ROK":
        return "submits"
    return "throttled" if status in ("ESME_RTHROTTLED", "ESME_RMSGQFUL") else "submit_errors"


class _WriterCollector(Collector):
    """Reads the group-commit writer's own counters at scrape time."""

    def __init__(self, writer: Writer) -> None:
        self._writer = writer

    def collect(self):
        yield CounterMetricFamily(
            "gatewayd_db_commit_batches", "Group-commit transactions", value=self._writer.batches
        )
        yield CounterMetricFamily(
            "gatewayd_db_commit_operations",
            "Writes committed through group commit",
            value=self._writer.operations,
        )
        yield GaugeMetricFamily(
            "gatewayd_db_write_queue", "Writes waiting for the writer", value=self._writer.queued
        )
        yield CounterMetricFamily(
            "gatewayd_db_storage_failures",
            "Write attempts the storage refused for a passing reason (disk full, connection lost)",
            value=self._writer.storage_failures,
        )


class _TableCollector(Collector):
    """Table sizes as retention last measured them (a scrape never reads the database)."""

    def __init__(self, retention: "Retention") -> None:
        self._retention = retention

    def collect(self):
        rows = GaugeMetricFamily(
            "gatewayd_table_rows",
            "Rows per table (PostgreSQL: the planner's estimate)",
            labels=["table"],
        )
        for table, count in sorted(self._retention.table_rows.items()):
            rows.add_metric([table], count)
        yield rows
        if self._retention.database_bytes is not None:
            yield GaugeMetricFamily(
                "gatewayd_database_bytes",
                "Database size on disk",
                value=self._retention.database_bytes,
            )


class _CarrierCollector(Collector):
    """Bind states, windows in use, suspension and submit_sm results of every carrier, read at
    scrape time."""

    def __init__(self, pool: "CarrierPool") -> None:
        self._pool = pool

    def collect(self):
        binds = GaugeMetricFamily(
            "gatewayd_carrier_binds", "Binds by state", labels=["carrier", "state"]
        )
        in_flight = GaugeMetricFamily(
            "gatewayd_carrier_window_in_use",
            "submit_sm awaiting a response",
            labels=["carrier"],
        )
        suspended = GaugeMetricFamily(
            "gatewayd_carrier_suspended",
            "1 while an operator has suspended the carrier (gatewayd admin suspend)",
            labels=["carrier"],
        )
        results = CounterMetricFamily(
            "gatewayd_carrier_submit_results",
            "submit_sm responses by command_status",
            labels=["carrier", "status"],
        )
        for name, carrier in list(self._pool.carriers.items()):
            states: dict[str, int] = {}
            for bind in carrier.binds:
                states[bind.state] = states.get(bind.state, 0) + 1
            for state, count in states.items():
                binds.add_metric([name, state], count)
            in_flight.add_metric([name], carrier.in_flight)
            suspended.add_metric([name], int(self._pool.is_suspended(name)))
            for status, count in list(carrier.status_counts.items()):
                results.add_metric([name, status_name(status).split(" ")[0]], count)
        yield binds
        yield in_flight
        yield suspended
        yield results


class _InboundCollector(Collector):
    def __init__(self, inbound, receipts) -> None:
        self._inbound = inbound
        self._receipts = receipts

    def collect(self):
        yield CounterMetricFamily(
            "gatewayd_incoming_unrouted",
            "Incoming messages to numbers no application owns",
            value=self._inbound.unrouted,
        )
        yield CounterMetricFamily(
            "gatewayd_receipts_unmatched",
            "Delivery receipts that waited for a submitted part to take them in vain",
            value=self._receipts.unmatched,
        )


class _Merged:
    """Collectors shown as one registry: families of one name (this process's HTTP counts and
    the workers') become one family, as the exposition format requires."""

    def __init__(self, collectors: list[Collector]) -> None:
        self._collectors = collectors

    def collect(self) -> list[Metric]:
        families: dict[str, Metric] = {}
        for collector in self._collectors:
            for family in collector.collect():
                if family.name in families:
                    families[family.name].samples += family.samples
                else:
                    families[family.name] = family
        return list(families.values())
