"""Model quality from delayed labels: how the served predictions fared once the truth was known.

Pure functions over a frame of labeled predictions (one row per prediction whose outcome has
arrived): `quality_by_version` scores each model version on all its labels, `quality_over_time`
on a rolling window of days. Metrics come from scikit-learn; calibration is measured as the
expected calibration error (ECE) over ten equal-width probability bins, the binning of
``sklearn.calibration.calibration_curve``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import AwareDatetime, BaseModel, ConfigDict
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from churnguard.monitoring.reference import (
    MonitoringInputError,
    probability_values,
    require_columns,
)

#: Columns of a labeled-predictions frame.
LABELED_COLUMNS: Final = ("model_version", "created_at", "churn_probability", "churn", "actual")
#: Equal-width probability bins of the reliability diagram and the ECE.
CALIBRATION_BINS: Final = 10

QualityStatus = Literal["ok", "insufficient_labels"]


class _QualityModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReliabilityBin(_QualityModel):
    """One non-empty probability bin: predicted against observed churn."""

    lower: float
    upper: float
    n: int
    mean_predicted: float
    observed_rate: float


class QualityMetrics(_QualityModel):
    """Quality of one model version on its labeled predictions.

    Below ``min_labels`` labels the status is ``insufficient_labels`` and every metric is None.
    ``roc_auc`` and ``pr_auc`` are None when the labels hold one class; ``precision`` is None
    when nothing was predicted to churn, ``recall`` when nobody churned, ``f1`` when either is.

    Attributes:
        model_version: The served version.
        status: ``ok`` or ``insufficient_labels``.
        n: Labeled predictions.
        positives: Of which churned.
        positive_rate: Observed churn rate.
        mean_probability: Mean predicted churn probability (equals the churn rate when the
            model is calibrated; a gap means label shift or drift of the churn relation).
        roc_auc: Area under the ROC curve.
        pr_auc: Average precision.
        precision: Of the predicted churners, the share that churned.
        recall: Of the churners, the share predicted.
        f1: Harmonic mean of precision and recall.
        brier: Mean squared error of the probabilities.
        ece: Expected calibration error (bin-size weighted gap of predicted and observed).
        reliability: The non-empty calibration bins.
    """

    model_version: str
    status: QualityStatus
    n: int
    positives: int
    positive_rate: float | None = None
    mean_probability: float | None = None
    roc_auc: float | None = None
    pr_auc: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    brier: float | None = None
    ece: float | None = None
    reliability: list[ReliabilityBin] = []


class QualityPoint(QualityMetrics):
    """Quality of one version on the labeled predictions made in ``[window_start, window_end)``."""

    window_start: AwareDatetime
    window_end: AwareDatetime


def label_flags(frame: pd.DataFrame, column: str) -> NDArray[np.bool_]:
    """A 0/1 or boolean column as booleans; anything else is a :class:`MonitoringInputError`."""
    series = frame[column]
    numeric = pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series)
    if not numeric or series.isna().any() or not series.isin([0, 1]).all():
        raise MonitoringInputError(
            f"column {column!r} must hold booleans (or 0/1) without missing values, got dtype "
            f"{series.dtype}; pass only predictions whose label has arrived"
        )
    return series.to_numpy(dtype=bool)


def _timestamps(frame: pd.DataFrame) -> pd.DatetimeIndex:
    series = frame["created_at"]
    try:
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            raise TypeError("numbers are not timestamps")
        dated = pd.api.types.is_datetime64_any_dtype(series)
        stamps = pd.DatetimeIndex(
            pd.to_datetime(series, utc=True, format=None if dated else "ISO8601")
        )
    except (TypeError, ValueError) as exc:
        raise MonitoringInputError(
            f"column 'created_at' must hold datetimes or ISO 8601 text (UTC; naive values are "
            f"read as UTC), got dtype {series.dtype}: {str(exc).splitlines()[0]}"
        ) from exc
    if stamps.isna().any():
        raise MonitoringInputError("column 'created_at' has missing values; drop those rows")
    return stamps


def _validated(labeled: pd.DataFrame) -> pd.DataFrame:
    frame = require_columns(labeled, LABELED_COLUMNS, "the labeled predictions")
    if frame["model_version"].isna().any():
        raise MonitoringInputError("column 'model_version' has missing values; drop those rows")
    probability = frame["churn_probability"]
    if not pd.api.types.is_numeric_dtype(probability) or pd.api.types.is_bool_dtype(probability):
        raise MonitoringInputError(
            f"column 'churn_probability' must hold numbers in [0, 1], got dtype {probability.dtype}"
        )
    return pd.DataFrame(
        {
            "model_version": frame["model_version"].astype(str).to_numpy(),
            "created_at": _timestamps(frame),
            "churn_probability": probability_values(
                probability.to_numpy(dtype=np.float64, na_value=np.nan),
                "column 'churn_probability'",
            )
            if len(frame)
            else np.empty(0),
            "churn": label_flags(frame, "churn"),
            "actual": label_flags(frame, "actual"),
        }
    ).sort_values("created_at", kind="stable", ignore_index=True)


def reliability_bins(
    actual: NDArray[np.bool_], probability: NDArray[np.float64]
) -> list[ReliabilityBin]:
    """Mean predicted and observed churn in each non-empty bin of `CALIBRATION_BINS`."""
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    index = np.searchsorted(edges[1:-1], probability)  # calibration_curve's binning
    counts = np.bincount(index, minlength=CALIBRATION_BINS)
    predicted = np.bincount(index, weights=probability, minlength=CALIBRATION_BINS)
    observed = np.bincount(index, weights=actual.astype(np.float64), minlength=CALIBRATION_BINS)
    return [
        ReliabilityBin(
            lower=float(edges[i]),
            upper=float(edges[i + 1]),
            n=int(counts[i]),
            mean_predicted=float(predicted[i] / counts[i]),
            observed_rate=float(observed[i] / counts[i]),
        )
        for i in np.flatnonzero(counts)
    ]


def _optional(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _metrics(
    version: str, rows: pd.DataFrame, min_labels: int
) -> dict[str, str | int | float | list[ReliabilityBin] | None]:
    actual = rows["actual"].to_numpy(dtype=bool)
    probability = rows["churn_probability"].to_numpy(dtype=np.float64)
    predicted = rows["churn"].to_numpy(dtype=bool)
    n, positives = len(rows), int(actual.sum())
    base: dict[str, str | int | float | list[ReliabilityBin] | None] = {
        "model_version": version,
        "n": n,
        "positives": positives,
    }
    if n < min_labels or n == 0:
        return base | {"status": "insufficient_labels"}
    two_classes = 0 < positives < n
    bins = reliability_bins(actual, probability)
    precision = _optional(precision_score(actual, predicted, zero_division=np.nan))
    recall = _optional(recall_score(actual, predicted, zero_division=np.nan))
    return base | {
        "status": "ok",
        "positive_rate": positives / n,
        "mean_probability": float(probability.mean()),
        "roc_auc": float(roc_auc_score(actual, probability)) if two_classes else None,
        "pr_auc": float(average_precision_score(actual, probability)) if two_classes else None,
        "precision": precision,
        "recall": recall,
        "f1": None
        if precision is None or recall is None
        else float(f1_score(actual, predicted, zero_division=0.0)),
        "brier": float(brier_score_loss(actual, probability, pos_label=True)),
        "ece": sum(b.n * abs(b.mean_predicted - b.observed_rate) for b in bins) / n,
        "reliability": bins,
    }


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise MonitoringInputError(f"{name} must be a whole number >= 1, got {value!r}")


def quality_by_version(labeled: pd.DataFrame, min_labels: int) -> list[QualityMetrics]:
    """Score every model version on all its labeled predictions.

    Args:
        labeled: One row per labeled prediction with `LABELED_COLUMNS`: model_version, created_at
            (UTC), churn_probability, churn (the predicted label), actual (the truth).
        min_labels: Labels a version needs before it is scored.

    Returns:
        One entry per version, in the order the versions first served; empty for an empty frame.

    Raises:
        MonitoringInputError: a column is missing or has unusable values, or ``min_labels`` < 1.
    """
    _check_positive("min_labels", min_labels)
    frame = _validated(labeled)
    return [
        QualityMetrics.model_validate(_metrics(str(version), rows, min_labels))
        for version, rows in frame.groupby("model_version", sort=False)
    ]


def quality_over_time(
    labeled: pd.DataFrame, window_days: int, min_labels: int
) -> list[QualityPoint]:
    """Score every model version on a rolling window of ``window_days`` days, day by day.

    The windows end at each UTC midnight from the day after the version's first labeled
    prediction to the day after its last; a window holding no prediction of the version is left
    out, one with fewer than ``min_labels`` is reported as ``insufficient_labels``.

    Args:
        labeled: As for `quality_by_version`.
        window_days: Length of the window in days.
        min_labels: Labels a window needs before it is scored.

    Returns:
        The points, by version (in the order they first served), then by ``window_end``.

    Raises:
        MonitoringInputError: a column is missing or has unusable values, or ``window_days`` or
            ``min_labels`` < 1.
    """
    _check_positive("window_days", window_days)
    _check_positive("min_labels", min_labels)
    frame = _validated(labeled)
    width = timedelta(days=window_days)
    points: list[QualityPoint] = []
    for version, rows in frame.groupby("model_version", sort=False):
        stamps = pd.DatetimeIndex(rows["created_at"])
        first, last = stamps[0].floor("D"), stamps[-1].floor("D")
        for end in pd.date_range(first + timedelta(days=1), last + timedelta(days=1), freq="D"):
            lo, hi = stamps.searchsorted(end - width), stamps.searchsorted(end)
            if hi > lo:
                metrics = _metrics(str(version), rows.iloc[lo:hi], min_labels)
                points.append(
                    QualityPoint.model_validate(
                        metrics
                        | {
                            "window_start": (end - width).to_pydatetime(),
                            "window_end": end.to_pydatetime(),
                        }
                    )
                )
    return points


__all__ = [
    "CALIBRATION_BINS",
    "LABELED_COLUMNS",
    "QualityMetrics",
    "QualityPoint",
    "QualityStatus",
    "ReliabilityBin",
    "label_flags",
    "quality_by_version",
    "quality_over_time",
    "reliability_bins",
]
