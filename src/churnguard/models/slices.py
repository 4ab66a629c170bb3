"""Metrics per customer segment: Contract, tenure bucket, InternetService and SeniorCitizen.

Like :mod:`churnguard.models.evaluate`, every function takes observed churn (0/1) and predicted
churn probabilities; none fits anything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import pandas as pd
from numpy.typing import ArrayLike
from sklearn.metrics import roc_auc_score

from churnguard.data.schema import CATEGORIES
from churnguard.features.transformers import (
    TENURE_BUCKET,
    TelcoFeatureEngineer,
    tenure_bucket_labels,
)
from churnguard.models._decisions import check_threshold, decisions, precision_recall_f1
from churnguard.models.threshold import Labels, Scores, check_predictions

#: The slices of :func:`slice_metrics`, in output order.
SLICE_NAMES: Final = ("Contract", TENURE_BUCKET, "InternetService", "SeniorCitizen")
SLICE_COLUMNS: Final = (
    "slice",
    "value",
    "n",
    "churn_rate",
    "mean_proba",
    "roc_auc",
    "precision",
    "recall",
    "f1",
)

SliceRow = dict[str, str | int | float | None]


def _slice_values(frame: pd.DataFrame, tenure_bins: Sequence[int]) -> dict[str, pd.Series]:
    # The tenure bucket comes from the model's own feature code, so slices match the features.
    engineered = TelcoFeatureEngineer(tenure_bins=tenure_bins).fit(frame).transform(frame)
    return {name: engineered[name].astype("str") for name in SLICE_NAMES}


def _value_order(name: str, present: pd.Series, tenure_bins: Sequence[int]) -> list[str]:
    known: Sequence[str] = (
        tenure_bucket_labels(tenure_bins) if name == TENURE_BUCKET else CATEGORIES.get(name, ())
    )
    seen = set(present.unique())
    return [v for v in known if v in seen] + sorted(seen - set(known))


def _slice_row(name: str, value: str, y: Labels, scores: Scores, threshold: float) -> SliceRow:
    precision, recall, f1 = precision_recall_f1(y, decisions(scores, threshold))
    both_classes = 0 < y.sum() < y.size
    return {
        "slice": name,
        "value": value,
        "n": int(y.size),
        "churn_rate": float(y.mean()),
        "mean_proba": float(scores.mean()),
        "roc_auc": float(roc_auc_score(y, scores)) if both_classes else math.nan,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def slice_rows(
    frame: pd.DataFrame, y: Labels, scores: Scores, threshold: float, tenure_bins: Sequence[int]
) -> list[SliceRow]:
    """The rows of :func:`slice_metrics` for labels and scores already checked.

    Raises:
        ValueError: The frame's length differs from the predictions'.
    """
    if len(frame) != y.size:
        raise ValueError(f"frame has {len(frame)} rows but there are {y.size} predictions")
    rows: list[SliceRow] = []
    for name, values in _slice_values(frame, tenure_bins).items():
        column = values.to_numpy()
        for value in _value_order(name, values, tenure_bins):
            mask = column == value
            rows.append(_slice_row(name, value, y[mask], scores[mask], threshold))
    return rows


def slice_metrics(
    frame: pd.DataFrame,
    y_true: ArrayLike,
    proba: ArrayLike,
    threshold: float,
    tenure_bins: Sequence[int],
) -> pd.DataFrame:
    """Metrics per customer segment: Contract, tenure bucket, InternetService and SeniorCitizen.

    Args:
        frame: The processed customers the predictions are for (row ``i`` ↔ ``y_true[i]``).
        y_true: Observed churn, 0 or 1.
        proba: Predicted churn probabilities.
        threshold: Decision threshold for precision, recall and F1.
        tenure_bins: Tenure bucket edges, as in ``FeatureConfig.tenure_bins``.

    Returns:
        One row per slice value present, columns :data:`SLICE_COLUMNS`; ``value`` is text,
        ``roc_auc`` is NaN when a slice holds one class only. Rows follow :data:`SLICE_NAMES`,
        then the natural order of the values (schema order, bucket order, then alphabetical).

    Raises:
        ValueError: Invalid predictions, a threshold outside [0, 1], or a frame whose length
            differs from the predictions'.
        churnguard.features.transformers.FeatureInputError: The frame lacks feature columns.
    """
    y, scores = check_predictions(y_true, proba, require_both_classes=False)
    rows = slice_rows(frame, y, scores, check_threshold(threshold), tenure_bins)
    return pd.DataFrame(rows, columns=list(SLICE_COLUMNS))


__all__ = ["SLICE_COLUMNS", "SLICE_NAMES", "SliceRow", "slice_metrics", "slice_rows"]
