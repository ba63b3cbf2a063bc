"""Prometheus metrics of one process (prometheus-client, one registry per app)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from service.protocol import STATS

CONTENT_TYPE = CONTENT_TYPE_LATEST
disable_created_metrics()  # no *_created series: they double the output and nobody graphs them


class Metrics:
    """Requests by route and status, their latency, and the elements and bytes served."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "initserve_requests", "HTTP requests answered.", ["route", "method", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "initserve_request_duration_seconds",
            "Time from request to the last byte of the answer.",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.elements = Counter(
            "initserve_elements_generated", "Tensor elements generated.", ["scheme", "dtype"], registry=self.registry
        )
        self.bytes = Counter("initserve_bytes_sent", "Answer body bytes sent.", ["route"], registry=self.registry)
        self.blocks = Counter(
            "initserve_blocks_generated",
            "Blocks (up to 2^20 elements) made on the generation pool.",
            registry=self.registry,
        )
        self.cut = Counter(
            "initserve_answers_cut",
            "Answers started but never finished: the client left a streamed answer before its end (a client "
            "timeout shorter than the download, say), or the answer failed after it had started.",
            ["route"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "initserve_admission_rejected",
            "Requests refused with 503: the generation or work budget stayed full for the admission timeout.",
            ["route"],
            registry=self.registry,
        )
        self.budget_in_use = Gauge(
            "initserve_generation_budget_in_use_bytes",
            "Bytes of the generation budget held by requests now.",
            registry=self.registry,
        )
        self.registry.register(_Connections())
        self.work_in_use = Gauge(
            "initserve_work_budget_in_use_flops",
            "Flops of CPU work admitted and not finished (the work budget held by requests now).",
            registry=self.registry,
        )
        # The labelled children, by label values: ``labels()`` costs microseconds on every request.
        self._answered: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}
        self._made: dict[tuple[str, str], Any] = {}

    def answered(self, route: str, method: str, status: str, seconds: float, nbytes: int) -> None:
        """Counts one answer: the request, its latency and its body bytes."""
        children = self._answered.get((route, method, status))
        if children is None:
            children = self._answered[route, method, status] = (
                self.requests.labels(route, method, status),
                self.latency.labels(route),
                self.bytes.labels(route),
            )
        requests, latency, sent = children
        requests.inc()
        latency.observe(seconds)
        sent.inc(nbytes)

    def generated(self, scheme: str, dtype: str, count: int) -> None:
        """Counts ``count`` elements generated with ``scheme`` in ``dtype``."""
        child = self._made.get((scheme, dtype))
        if child is None:
            child = self._made[scheme, dtype] = self.elements.labels(scheme, dtype)
        child.inc(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Connections(Collector):
    """The connection guard's counts (``service.protocol.STATS``, one per process, kept outside the app
    because the guard answers without it): open connections, and requests refused before the app."""

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "initserve_connections_open", "Open HTTP connections (initserve serve).", value=STATS.open
        )
        refused = CounterMetricFamily(
            "initserve_requests_refused",
            "Requests answered by the connection guard before the app (initserve serve): malformed (400), "
            "head too large (431, 414), no or a wrong Host or version (400, 505), too many connections (503).",
            labels=["reason", "status"],
        )
        for (reason, status), count in sorted(STATS.refused.items()):
            refused.add_metric([reason, str(status)], count)
        yield refused
