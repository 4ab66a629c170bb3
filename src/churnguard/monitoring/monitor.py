"""The service's background monitor: drift and quality gauges, and the dashboard's snapshot.

Every ``monitoring.refresh_seconds`` a daemon thread reads the last ``drift_window`` logged
predictions and the labeled ones from the prediction store, compares the window with the served
model's drift reference (:func:`~churnguard.monitoring.drift.detect_drift`), scores the model on
its delayed labels (:mod:`churnguard.monitoring.quality`), sets the Prometheus gauges and keeps a
:class:`~churnguard.monitoring.snapshot.MonitorSnapshot` for ``GET /dashboard``. The work is
done by :func:`assess` and :func:`build_snapshot` (pure); the thread only schedules them and
never lets a failure stop the service.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from churnguard.monitoring.config import MonitoringConfig
from churnguard.monitoring.drift import DriftReport, detect_drift
from churnguard.monitoring.quality import (
    QualityMetrics,
    QualityPoint,
    quality_by_version,
    quality_over_time,
)
from churnguard.monitoring.reference import DriftReference
from churnguard.monitoring.snapshot import (
    FeatureDriftRow,
    ModelSummary,
    MonitorSnapshot,
    QualityRow,
    RiskBin,
    TrafficPoint,
)
from churnguard.monitoring.store import MonitoringStore, StoreUnavailableError

if TYPE_CHECKING:
    from churnguard.api.metrics import ServiceMetrics
    from churnguard.api.state import ServedModel

logger = logging.getLogger(__name__)

#: Metrics of :class:`QualityMetrics` exported as ``churnguard_model_quality{metric=…}``.
QUALITY_GAUGES = ("roc_auc", "pr_auc", "precision", "recall", "f1", "brier", "ece")
_RISK_EDGES = np.linspace(0.0, 1.0, 11)


@dataclass(frozen=True)
class Assessment:
    """One look at the logged traffic: its window, drift and quality.

    Attributes:
        window: The last ``drift_window`` predictions (store columns).
        drift: The window against the reference; ``None`` without a reference.
        quality: Quality per model version on the labels of the last ``quality_window_days``.
        quality_over_time: Rolling daily quality per version.
        labeled: Labeled predictions in the quality window.
    """

    window: pd.DataFrame
    drift: DriftReport | None
    quality: list[QualityMetrics]
    quality_over_time: list[QualityPoint]
    labeled: int


def assess(
    store: MonitoringStore,
    reference: DriftReference | None,
    config: MonitoringConfig,
    now: datetime | None = None,
) -> Assessment:
    """Read the window and the labels, and judge drift and quality.

    Raises:
        StoreUnavailableError: the prediction store cannot be read.
        MonitoringInputError: the logged data does not fit the reference (e.g. a column is gone).
    """
    now = now or datetime.now(UTC)
    window = store.recent_predictions(limit=config.drift_window)
    drift = detect_drift(reference, window, config) if reference is not None else None
    labeled = store.labeled_predictions(since=now - timedelta(days=config.quality_window_days))
    if "shadow" in labeled:  # quality of the answers served; shadow scores: `experiment report`
        labeled = labeled[~labeled["shadow"].astype(bool)]
    return Assessment(
        window=window,
        drift=drift,
        quality=quality_by_version(labeled, config.quality_min_labels),
        quality_over_time=quality_over_time(
            labeled, config.quality_window_days, config.quality_min_labels
        ),
        labeled=len(labeled),
    )


def _traffic(window: pd.DataFrame, now: datetime) -> list[TrafficPoint]:
    start = (now - timedelta(hours=1)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    minutes = pd.date_range(start, periods=60, freq="min", tz=UTC)
    if window.empty:
        counts = pd.DataFrame({"predictions": 0, "churn": 0}, index=minutes)
    else:
        stamps = pd.to_datetime(window["created_at"], utc=True).dt.floor("min")
        grouped = pd.DataFrame({"minute": stamps, "churn": window["churn"].astype(int)})
        per_minute = grouped.groupby("minute").agg(
            predictions=("churn", "size"), churn=("churn", "sum")
        )
        counts = per_minute.reindex(minutes, fill_value=0)
    return [
        TrafficPoint(start=moment.to_pydatetime(), predictions=int(row[0]), churn=int(row[1]))
        for moment, row in zip(
            counts.index, counts[["predictions", "churn"]].to_numpy(), strict=True
        )
    ]


def _risk(probability: np.ndarray) -> list[RiskBin]:
    counts, _ = np.histogram(probability, bins=_RISK_EDGES)
    return [
        RiskBin(lower=float(lo), upper=float(hi), count=int(n))
        for lo, hi, n in zip(_RISK_EDGES[:-1], _RISK_EDGES[1:], counts, strict=True)
    ]


def _bands(probability: np.ndarray, threshold: float | None) -> dict[str, int]:
    if threshold is None:
        return {"low": 0, "medium": 0, "high": 0}
    high = int(np.sum(probability >= threshold))
    medium = int(np.sum((probability < threshold) & (probability >= threshold / 2)))
    return {"low": len(probability) - high - medium, "medium": medium, "high": high}


def _quality_rows(points: list[QualityPoint]) -> list[QualityRow]:
    return [
        QualityRow(
            at=point.window_end,
            model_version=point.model_version,
            n=point.n,
            roc_auc=point.roc_auc,
            precision=point.precision,
            recall=point.recall,
            f1=point.f1,
        )
        for point in points
    ]


def build_snapshot(
    assessment: Assessment, model: ModelSummary | None, now: datetime
) -> MonitorSnapshot:
    """The dashboard's data from one assessment (pure)."""
    window = assessment.window
    probability = window["churn_probability"].to_numpy(dtype=np.float64)
    drift = assessment.drift
    features = (
        []
        if drift is None
        else [
            FeatureDriftRow(
                feature=f.feature,
                kind=f.kind,
                psi=f.psi,
                p_value=f.p_value,
                effect=f.effect,
                drifted=f.drifted,
            )
            for f in sorted(drift.features, key=lambda f: (not f.drifted, -f.psi))
        ]
    )
    verdict = drift is not None and drift.status != "insufficient_data"
    return MonitorSnapshot(
        generated_at=now,
        model=model,
        window_rows=len(window),
        traffic=_traffic(window, now),
        risk=_risk(probability),
        bands=_bands(probability, model.threshold if model else None),
        drift_status="unavailable" if drift is None else drift.status,
        drift_share=drift.drift_share if verdict and drift else None,
        features=features,
        prediction_psi=(
            drift.prediction.psi if verdict and drift and drift.prediction is not None else None
        ),
        quality=_quality_rows(assessment.quality_over_time),
        labeled=assessment.labeled,
    )


def model_summary(served: ServedModel | None) -> ModelSummary | None:
    """What the dashboard shows of the served model."""
    if served is None:
        return None
    info = served.info
    return ModelSummary(
        name=info.name or "churnguard",
        version=served.version,
        alias=info.alias,
        run_id=info.run_id,
        threshold=served.scorer.threshold,
        loaded_at=datetime.fromisoformat(info.loaded_at),
    )


def export_gauges(metrics: ServiceMetrics, assessment: Assessment, now: datetime) -> None:
    """Set the drift and quality gauges of ``/metrics`` from one assessment."""
    metrics.drift_window_rows.set(len(assessment.window))
    drift = assessment.drift
    if drift is not None:
        for feature in drift.features:
            metrics.feature_drift_psi.labels(feature.feature).set(feature.psi)
            metrics.feature_drift_detected.labels(feature.feature).set(int(feature.drifted))
        metrics.drift_share.set(drift.drift_share)
        metrics.drift_detected.set(int(drift.dataset_drift))
        if drift.prediction is not None:
            metrics.prediction_drift_psi.set(drift.prediction.psi)
    for quality in assessment.quality:
        metrics.labeled_predictions.labels(quality.model_version).set(quality.n)
        for name in QUALITY_GAUGES:
            value = getattr(quality, name)
            if value is not None:
                metrics.quality.labels(quality.model_version, name).set(value)
    metrics.monitor_last_run.set(now.timestamp())


class ServiceMonitor:
    """Refresh the gauges and the snapshot every ``config.refresh_seconds`` in a daemon thread.

    Args:
        store: The prediction store the service logs to.
        config: Windows and thresholds.
        metrics: The service's metric families.
        served_model: Returns the model being served now (``None`` while none is).
    """

    def __init__(
        self,
        store: MonitoringStore,
        config: MonitoringConfig,
        metrics: ServiceMetrics,
        served_model: Callable[[], ServedModel | None],
    ) -> None:
        self._store = store
        self._config = config
        self._metrics = metrics
        self._served_model = served_model
        self._latest: MonitorSnapshot | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def latest(self) -> MonitorSnapshot | None:
        """The newest snapshot, ``None`` before the first refresh."""
        return self._latest

    def refresh(self) -> MonitorSnapshot:
        """Assess now, set the gauges, keep and return the snapshot.

        Raises:
            StoreUnavailableError: the prediction store cannot be read.
            MonitoringInputError: the logged data does not fit the reference.
        """
        now = datetime.now(UTC)
        served = self._served_model()
        reference = served.drift_reference if served is not None else None
        assessment = assess(self._store, reference, self._config, now)
        export_gauges(self._metrics, assessment, now)
        self._latest = build_snapshot(assessment, model_summary(served), now)
        return self._latest

    def start(self) -> None:
        """Start refreshing in the background (the first refresh runs at once)."""
        self._thread = threading.Thread(target=self._run, name="churnguard-monitor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the background thread."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                self.refresh()
            except StoreUnavailableError as exc:
                self._report(f"the prediction store is unavailable: {exc}")
            except Exception as exc:  # the monitor must never stop the service
                self._report(f"monitor refresh failed ({type(exc).__name__}): {exc}")
            else:
                if self._failing:
                    logger.info("monitor refresh works again")
                self._failing = False
            elapsed = time.monotonic() - started
            self._stopping.wait(max(0.0, self._config.refresh_seconds - elapsed))

    def _report(self, message: str) -> None:
        # Once per failure streak: a dead store must not flood the log every few seconds.
        if not self._failing:
            logger.warning(message)
        self._failing = True


__all__ = [
    "QUALITY_GAUGES",
    "Assessment",
    "ServiceMonitor",
    "assess",
    "build_snapshot",
    "export_gauges",
    "model_summary",
]
