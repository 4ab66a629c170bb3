"""Prometheus metrics of the prediction service.

Each app owns its registry, so several apps in one process (tests) never clash. With several
uvicorn workers, ``PROMETHEUS_MULTIPROC_DIR`` switches to prometheus-client's multiprocess mode
and ``/metrics`` aggregates every worker.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

#: Latency buckets in seconds: sub-millisecond predictions up to slow batches.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
PROBABILITY_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 11))


@dataclass(frozen=True)
class ServiceMetrics:
    """The service's metric families, registered in their own registry."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    in_flight: Gauge
    predictions: Counter
    probability: Histogram
    model_loaded: Gauge
    model_load_seconds: Gauge
    model_loaded_at: Gauge
    reloads: Counter

    def exposition(self) -> bytes:
        """The Prometheus text of every metric (all workers in multiprocess mode)."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


def create_metrics() -> ServiceMetrics:
    """Create the metric families in a new registry."""
    registry = CollectorRegistry(auto_describe=True)
    return ServiceMetrics(
        registry=registry,
        requests=Counter(
            "churnguard_http_requests",
            "HTTP requests by route, method and status code.",
            ["route", "method", "status"],
            registry=registry,
        ),
        latency=Histogram(
            "churnguard_http_request_duration_seconds",
            "Time to answer a request, by route and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        in_flight=Gauge(
            "churnguard_http_requests_in_flight",
            "Requests being answered.",
            registry=registry,
            multiprocess_mode="livesum",
        ),
        predictions=Counter(
            "churnguard_predictions",
            "Customers scored, by model version and predicted label.",
            ["model_version", "label"],
            registry=registry,
        ),
        probability=Histogram(
            "churnguard_churn_probability",
            "Churn probabilities returned.",
            ["model_version"],
            buckets=PROBABILITY_BUCKETS,
            registry=registry,
        ),
        model_loaded=Gauge(
            "churnguard_model_loaded",
            "1 when a model is loaded and serving, else 0.",
            registry=registry,
            multiprocess_mode="max",
        ),
        model_load_seconds=Gauge(
            "churnguard_model_load_seconds",
            "Time the last successful model load took.",
            registry=registry,
            multiprocess_mode="max",
        ),
        model_loaded_at=Gauge(
            "churnguard_model_loaded_timestamp_seconds",
            "Unix time the served model was loaded (model age = time() - this).",
            registry=registry,
            multiprocess_mode="max",
        ),
        reloads=Counter(
            "churnguard_model_reloads",
            "Model reload attempts by outcome.",
            ["outcome"],
            registry=registry,
        ),
    )


__all__ = ["LATENCY_BUCKETS", "ServiceMetrics", "create_metrics"]
