"""Prometheus metrics of the prediction service.

Each app owns its registry, so several apps in one process (tests) never clash. With several
uvicorn workers, ``PROMETHEUS_MULTIPROC_DIR`` switches to prometheus-client's multiprocess mode
and ``/metrics`` aggregates every worker.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

#: Latency buckets in seconds: sub-millisecond predictions up to slow batches.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
PROBABILITY_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 11))
VARIANTS = ("champion", "challenger")


class _PredictionCounter(Counter):
    """``churnguard_predictions``: ``labels(model_version, label)`` counts for the champion.

    Callers that score outside an experiment (the KServe V2 route) name no variant.
    """

    def labels(self, *labelvalues: Any, **labelkwargs: Any) -> _PredictionCounter:
        if len(labelvalues) == 2 and not labelkwargs:  # (model_version, label)
            labelvalues = (*labelvalues, "champion")
        return super().labels(*labelvalues, **labelkwargs)


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
    model_trained_at: Gauge
    reloads: Counter
    # -- experiments (champion and challenger) ---------------------------------------------
    variant_latency: Histogram
    shadow_errors: Counter
    # -- prediction log (churnguard.monitoring.predlog) ------------------------------------
    log_queue_depth: Gauge
    log_spooled: Gauge
    log_written: Counter
    log_dropped: Counter
    # -- drift and quality (refreshed in the background by the service's monitor) ----------
    feature_drift_psi: Gauge
    feature_drift_detected: Gauge
    drift_detected: Gauge
    drift_share: Gauge
    prediction_drift_psi: Gauge
    drift_window_rows: Gauge
    quality: Gauge
    labeled_predictions: Gauge
    monitor_last_run: Gauge

    def model_served(self, load_seconds: float, trained_at: str | None) -> None:
        """Record a successful model load: loaded flag, load time, load and training times."""
        self.model_loaded.set(1)
        self.model_load_seconds.set(load_seconds)
        self.model_loaded_at.set(time.time())
        if trained_at is not None:
            self.model_trained_at.set(datetime.fromisoformat(trained_at).timestamp())

    def record_predictions(
        self,
        model_version: str,
        variant: str,
        probabilities: Sequence[float],
        threshold: float,
        scoring_seconds: float,
    ) -> None:
        """Count one variant's predictions, their probabilities and its scoring time."""
        churned = sum(p >= threshold for p in probabilities)
        if churned:
            self.predictions.labels(model_version, "churn", variant).inc(churned)
        if len(probabilities) - churned:
            self.predictions.labels(model_version, "stay", variant).inc(
                len(probabilities) - churned
            )
        observe_many(self.probability.labels(model_version, variant), probabilities)
        self.variant_latency.labels(variant).observe(scoring_seconds)

    def exposition(self) -> bytes:
        """The Prometheus text of every metric (all workers in multiprocess mode)."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


def observe_many(histogram: Histogram, values: Sequence[float]) -> None:
    """Observe ``values`` in one step: one increment per bucket, not one call per value.

    prometheus-client has no bulk observe, and a thousand ``observe`` calls cost ~1.5 ms of a
    batch request. This reads the labelled histogram's buckets (``_upper_bounds``,
    ``_buckets``, ``_sum``: the same fields ``observe`` updates, in single- and multi-process
    mode); a histogram without them is observed value by value.
    """
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None or len(buckets) != len(bounds):
        for value in values:
            histogram.observe(value)
        return
    data = np.asarray(values, dtype=np.float64)
    # observe() counts a value in the first bucket whose bound is >= the value.
    counts = np.bincount(np.searchsorted(bounds, data, side="left"), minlength=len(bounds))
    total.inc(float(data.sum()))
    for bucket, count in zip(buckets, counts[: len(bounds)].tolist(), strict=True):
        if count:
            bucket.inc(count)


def create_metrics() -> ServiceMetrics:
    """Create the metric families in a new registry."""
    registry = CollectorRegistry(auto_describe=True)
    # process_cpu_seconds_total, process_resident_memory_bytes, open fds, start time.
    ProcessCollector(registry=registry)
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
        predictions=_PredictionCounter(
            "churnguard_predictions",
            "Customers scored, by model version, predicted label and variant (champion or "
            "challenger; shadow scores included).",
            ["model_version", "label", "variant"],
            registry=registry,
        ),
        probability=Histogram(
            "churnguard_churn_probability",
            "Churn probabilities scored, by model version and variant.",
            ["model_version", "variant"],
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
        model_trained_at=Gauge(
            "churnguard_model_trained_timestamp_seconds",
            "Unix time the served model was trained (model staleness = time() - this).",
            registry=registry,
            multiprocess_mode="max",
        ),
        reloads=Counter(
            "churnguard_model_reloads",
            "Model reload attempts by outcome.",
            ["outcome"],
            registry=registry,
        ),
        variant_latency=Histogram(
            "churnguard_variant_latency_seconds",
            "Time a variant took to score a request (the challenger's shadow scoring included).",
            ["variant"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        shadow_errors=Counter(
            "churnguard_shadow_errors",
            "Shadow scorings of the challenger that failed or were skipped (queue full).",
            registry=registry,
        ),
        log_queue_depth=Gauge(
            "churnguard_prediction_log_queue_depth",
            "Prediction records waiting in memory for the log writer.",
            registry=registry,
            multiprocess_mode="livesum",
        ),
        log_spooled=Gauge(
            "churnguard_prediction_log_spooled_records",
            "Prediction records waiting on disk (spool) for the database to come back.",
            registry=registry,
            multiprocess_mode="livesum",
        ),
        log_written=Counter(
            "churnguard_prediction_log_written",
            "Prediction records written to the prediction store.",
            registry=registry,
        ),
        log_dropped=Counter(
            "churnguard_prediction_log_dropped",
            "Prediction records lost because the queue and the spool were both full.",
            registry=registry,
        ),
        feature_drift_psi=Gauge(
            "churnguard_feature_drift_psi",
            "Population stability index of each feature: current window vs training reference.",
            ["feature"],
            registry=registry,
            multiprocess_mode="mostrecent",
        ),
        feature_drift_detected=Gauge(
            "churnguard_feature_drift_detected",
            "1 when the feature drifted (PSI, or significant test with a real effect size).",
            ["feature"],
            registry=registry,
            multiprocess_mode="mostrecent",
        ),
        drift_detected=Gauge(
            "churnguard_drift_detected",
            "1 when the share of drifted features reaches monitoring.drift_share_threshold.",
            registry=registry,
            multiprocess_mode="mostrecent",
        ),
        drift_share=Gauge(
            "churnguard_drift_share",
            "Share of features that drifted in the current window.",
            registry=registry,
            multiprocess_mode="mostrecent",
        ),
        prediction_drift_psi=Gauge(
            "churnguard_prediction_drift_psi",
            "PSI of the churn-probability distribution: current window vs training reference.",
            registry=registry,
            multiprocess_mode="mostrecent",
        ),
        drift_window_rows=Gauge(
            "churnguard_drift_window_rows",
            "Logged predictions in the current drift window.",
            registry=registry,
            multiprocess_mode="mostrecent",
        ),
        quality=Gauge(
            "churnguard_model_quality",
            "Rolling model quality from delayed labels (roc_auc, precision, recall, f1, brier, ece).",
            ["model_version", "metric"],
            registry=registry,
            multiprocess_mode="mostrecent",
        ),
        labeled_predictions=Gauge(
            "churnguard_labeled_predictions",
            "Logged predictions with a ground-truth label, by model version.",
            ["model_version"],
            registry=registry,
            multiprocess_mode="mostrecent",
        ),
        monitor_last_run=Gauge(
            "churnguard_monitor_last_run_timestamp_seconds",
            "Unix time the drift and quality gauges were last refreshed.",
            registry=registry,
            multiprocess_mode="max",
        ),
    )


__all__ = ["LATENCY_BUCKETS", "VARIANTS", "ServiceMetrics", "create_metrics", "observe_many"]
