"""Prometheus metrics (prometheus-client).

Each app has its own registry, so tests that build several apps do not
share counters. With several Hypercorn workers `ivr serve` sets
PROMETHEUS_MULTIPROC_DIR, prometheus-client writes every worker's values
there, and /metrics adds them up whichever worker answers.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from quart import Blueprint, Response, request

from ..services import current_services
from ..store import Tx
from .login import metrics_authorized

ACK_BUCKETS = (10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)


class _Snapshot:
    """Gauges read from the store at scrape time: true across workers."""

    def __init__(self, values: dict[str, tuple[str, float]]):
        self.values = values

    def collect(self):
        for name, (help_text, value) in self.values.items():
            gauge = GaugeMetricFamily(name, help_text)
            gauge.add_metric([], value)
            yield gauge


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.webhooks = Counter("ivr_webhooks", "Twilio webhooks answered, by route and status",
                                ["route", "status"], registry=self.registry)
        self.signature_rejections = Counter(
            "ivr_signature_rejections", "Webhooks refused for a bad or missing signature",
            ["route"], registry=self.registry)
        self.decisions = Counter("ivr_decisions", "Routing decisions written, by kind",
                                 ["kind"], registry=self.registry)
        self.escalations = Counter("ivr_escalations", "Conversations moved to the next tier",
                                   ["line"], registry=self.registry)
        self.time_to_ack = Histogram("ivr_time_to_ack_seconds",
                                     "From a conversation's first text to its ACK",
                                     ["line"], buckets=ACK_BUCKETS, registry=self.registry)
        self.send_failures = Counter("ivr_rest_send_failures",
                                     "REST sends that failed, by whether they will be retried",
                                     ["retryable"], registry=self.registry)

    def after_commit(self, tx: Tx) -> None:
        for kind, line_id in tx.decided:
            self.decisions.labels(kind).inc()
            if kind == "escalated":
                self.escalations.labels(line_id or "-").inc()
        for name, value, labels in tx.observations:
            if name == "time_to_ack":
                self.time_to_ack.labels(labels.get("line", "-")).observe(value)

    def render(self, gauges: dict[str, tuple[str, float]]) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
        else:
            registry = self.registry
        snapshot = _Snapshot(gauges)
        registry.register(snapshot)
        try:
            return generate_latest(registry)
        finally:
            registry.unregister(snapshot)


blueprint = Blueprint("metrics", __name__)


@blueprint.get("/metrics")
async def metrics() -> Response:
    svc = current_services()
    checked = await metrics_authorized(request.headers.get("Authorization", ""))
    if checked.retry_after is not None:
        # Even the right password is refused until the failures age out.
        return Response("too many wrong operator passwords; try again later\n", 429,
                        {"Retry-After": str(checked.retry_after)}, mimetype="text/plain")
    if not checked.right:
        return Response("metrics need the operator password (HTTP Basic)\n", 401,
                        {"WWW-Authenticate": 'Basic realm="ivr metrics"'},
                        mimetype="text/plain")
    counts = await svc.store.read(lambda tx: tx.counts())
    gauges = {
        "ivr_pending_timers": ("Timers waiting to fire", counts["pending_timers"]),
        "ivr_open_conversations": ("Conversations not closed", counts["open_conversations"]),
        "ivr_outbox_unsent": ("Texts queued and not yet sent", counts["outbox_unsent"]),
    }
    return Response(svc.metrics.render(gauges), 200,
                    {"Content-Type": svc.metrics.content_type})
