"""The service monitor on a real sqlite prediction store: assessment, gauges and the snapshot."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from churnguard.api.metrics import create_metrics
from churnguard.monitoring.config import MonitoringConfig
from churnguard.monitoring.monitor import (
    ServiceMonitor,
    assess,
    build_snapshot,
    export_gauges,
)
from churnguard.monitoring.reference import read_drift_reference
from churnguard.monitoring.store import MonitoringStore

pytestmark = pytest.mark.unit

CONFIG = MonitoringConfig(quality_min_labels=50)


def _gauge(metrics: object, name: str, labels: dict[str, str] | None = None) -> float | None:
    value = metrics.registry.get_sample_value(name, labels or {})  # type: ignore[attr-defined]
    return None if value is None else float(value)


def test_the_drifted_traffic_is_flagged_and_quality_is_scored(
    monitored_traffic: tuple[str, Path],
) -> None:
    url, reference_path = monitored_traffic
    store = MonitoringStore(url)
    assessment = assess(store, read_drift_reference(reference_path), CONFIG)
    assert len(assessment.window) == 400
    assert assessment.drift is not None
    assert assessment.drift.status == "drift"
    drifted = set(assessment.drift.drifted_features)
    assert {"MonthlyCharges", "tenure", "Contract"} <= drifted
    assert assessment.labeled == 400
    (quality,) = assessment.quality
    assert quality.model_version == "1"
    assert quality.roc_auc is not None
    assert quality.roc_auc > 0.6


def test_only_the_normal_half_is_not_flagged(monitored_traffic: tuple[str, Path]) -> None:
    url, reference_path = monitored_traffic
    window = MonitoringConfig(drift_window=200, quality_min_labels=50)
    store = MonitoringStore(url)
    # The newest 200 are the drifted ones: take the oldest 200 through a time range instead.
    frame = store.recent_predictions()
    normal = frame[frame["request_id"].str.startswith("n-")]
    from churnguard.monitoring.drift import detect_drift

    report = detect_drift(read_drift_reference(reference_path), normal, window)
    assert report.status == "ok", report.drifted_features


def test_gauges_and_snapshot_follow_the_assessment(monitored_traffic: tuple[str, Path]) -> None:
    url, reference_path = monitored_traffic
    assessment = assess(MonitoringStore(url), read_drift_reference(reference_path), CONFIG)
    metrics = create_metrics()
    now = datetime.now(UTC)
    export_gauges(metrics, assessment, now)
    assert _gauge(metrics, "churnguard_drift_detected") == 1.0
    assert _gauge(metrics, "churnguard_drift_window_rows") == 400
    assert _gauge(metrics, "churnguard_feature_drift_detected", {"feature": "Contract"}) == 1.0
    psi = _gauge(metrics, "churnguard_feature_drift_psi", {"feature": "MonthlyCharges"})
    assert psi is not None
    assert psi > CONFIG.psi_threshold
    auc = _gauge(metrics, "churnguard_model_quality", {"model_version": "1", "metric": "roc_auc"})
    assert auc == pytest.approx(assessment.quality[0].roc_auc)
    assert _gauge(metrics, "churnguard_labeled_predictions", {"model_version": "1"}) == 400
    assert _gauge(metrics, "churnguard_monitor_last_run_timestamp_seconds") == now.timestamp()

    snapshot = build_snapshot(assessment, None, now)
    assert snapshot.window_rows == 400
    first_minute = (now - timedelta(hours=1)).replace(second=0, microsecond=0) + timedelta(
        minutes=1
    )
    in_the_hour = int((assessment.window["created_at"] >= first_minute).sum())
    assert in_the_hour > 0
    assert sum(point.predictions for point in snapshot.traffic) == in_the_hour
    assert len(snapshot.traffic) == 60
    assert sum(b.count for b in snapshot.risk) == 400
    assert snapshot.drift_status == "drift"
    assert snapshot.features[0].drifted  # most drifted first
    assert snapshot.prediction_psi is not None
    assert snapshot.quality
    assert snapshot.quality[0].n == 400
    assert snapshot.bands == {"low": 0, "medium": 0, "high": 0}  # no model: no threshold


def test_without_a_reference_drift_is_unavailable(monitored_traffic: tuple[str, Path]) -> None:
    assessment = assess(MonitoringStore(monitored_traffic[0]), None, CONFIG)
    snapshot = build_snapshot(assessment, None, datetime.now(UTC))
    assert assessment.drift is None
    assert snapshot.drift_status == "unavailable"
    assert snapshot.features == []


def test_the_thread_refreshes_and_survives_a_broken_store(
    monitored_traffic: tuple[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = create_metrics()
    config = MonitoringConfig(refresh_seconds=0.05, quality_min_labels=50)
    monitor = ServiceMonitor(MonitoringStore(monitored_traffic[0]), config, metrics, lambda: None)
    monitor.start()
    try:
        deadline = time.monotonic() + 10
        while monitor.latest() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert monitor.latest() is not None
        assert monitor.latest().window_rows == 400  # type: ignore[union-attr]
    finally:
        monitor.stop()

    # A store whose tables do not exist: the thread logs once and keeps going.
    broken = ServiceMonitor(
        MonitoringStore(f"sqlite:///{tmp_path / 'empty.db'}"), config, metrics, lambda: None
    )
    broken.start()
    time.sleep(0.4)
    broken.stop()
    assert broken.latest() is None
    failures = [r for r in caplog.records if r.name == "churnguard.monitoring.monitor"]
    assert len(failures) == 1
