"""What the service knows about its own health right now: the data behind ``GET /dashboard``.

The service's background monitor builds a :class:`MonitorSnapshot` every
``monitoring.refresh_seconds`` from the prediction log, the feedback labels and the served
model's drift reference; ``GET /dashboard/data`` returns the latest one as JSON and the
``/dashboard`` page draws it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict


class _Snapshot(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSummary(_Snapshot):
    """The served model."""

    name: str
    version: str
    alias: str | None
    run_id: str | None
    threshold: float
    loaded_at: AwareDatetime


class TrafficPoint(_Snapshot):
    """Predictions logged in one minute."""

    start: AwareDatetime
    predictions: int
    churn: int


class RiskBin(_Snapshot):
    """Predictions of the current window whose churn probability is in ``[lower, upper)``."""

    lower: float
    upper: float
    count: int


class FeatureDriftRow(_Snapshot):
    """One feature's drift in the current window against the training reference."""

    feature: str
    kind: Literal["numeric", "categorical"]
    psi: float
    p_value: float | None
    effect: float | None
    drifted: bool


class QualityRow(_Snapshot):
    """Model quality from the labels received for one period (or the whole window)."""

    at: AwareDatetime
    model_version: str
    n: int
    roc_auc: float | None
    precision: float | None
    recall: float | None
    f1: float | None


class MonitorSnapshot(_Snapshot):
    """The dashboard's data.

    Attributes:
        generated_at: When the monitor built it.
        model: The served model, ``None`` while none is loaded.
        window_rows: Logged predictions in the drift window.
        traffic: Predictions per minute over the last hour (oldest first).
        risk: Churn-probability histogram of the window (10 bins over [0, 1]).
        bands: Predictions of the window per risk band (low, medium, high).
        drift_status: ``ok``, ``drift``, ``insufficient_data`` (window below
            ``monitoring.drift_min_rows``) or ``unavailable`` (no reference for this model).
        drift_share: Share of drifted features (``None`` without a verdict).
        features: Per-feature drift, most drifted first.
        prediction_psi: PSI of the churn-probability distribution (``None`` without a verdict).
        quality: Quality over time per model version, oldest first.
        labeled: Labeled predictions available.
    """

    generated_at: AwareDatetime
    model: ModelSummary | None
    window_rows: int
    traffic: list[TrafficPoint]
    risk: list[RiskBin]
    bands: dict[str, int]
    drift_status: Literal["ok", "drift", "insufficient_data", "unavailable"]
    drift_share: float | None
    features: list[FeatureDriftRow]
    prediction_psi: float | None
    quality: list[QualityRow]
    labeled: int


__all__ = [
    "FeatureDriftRow",
    "ModelSummary",
    "MonitorSnapshot",
    "QualityRow",
    "RiskBin",
    "TrafficPoint",
]
