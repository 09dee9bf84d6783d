"""Prometheus metrics: one registry per daemon, so tests and embedded runs never collide."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gatewayd.storage.writer import Writer

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.config_generation = Gauge(
            "gatewayd_config_generation",
            "Configuration loads since start (1 = initial)",
            registry=r,
        )
        self.config_reloads = Counter(
            "gatewayd_config_reloads", "SIGHUP reloads by outcome", ["outcome"], registry=r
        )
        self.http_requests = Counter(
            "gatewayd_http_requests", "HTTP requests answered", ["listener", "status"], registry=r
        )
        self.http_latency = Histogram(
            "gatewayd_http_request_seconds",
            "HTTP request handling time",
            ["listener"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )

    def watch_writer(self, writer: Writer) -> None:
        self.registry.register(_WriterCollector(writer))

    def render(self) -> bytes:
        return generate_latest(self.registry)


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
