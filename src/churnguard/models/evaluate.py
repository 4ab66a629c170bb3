"""Evaluation of churn predictions: headline metrics, profit curve and the evaluation report.

Every function takes observed churn (0/1) and predicted churn probabilities; none fits anything.
The per-slice metrics live in :mod:`churnguard.models.slices` and are re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    classification_report,
    confusion_matrix,
    log_loss,
    roc_auc_score,
)

from churnguard.models._decisions import check_threshold, decisions, precision_recall_f1
from churnguard.models.config import ThresholdConfig
from churnguard.models.slices import (
    SLICE_COLUMNS,
    SLICE_NAMES,
    SliceRow,
    slice_metrics,
    slice_rows,
)
from churnguard.models.threshold import (
    Labels,
    Scores,
    check_predictions,
    check_thresholds,
    profit_at_thresholds,
    targeted_counts,
)

#: The keys of :func:`classification_metrics`, in order.
METRIC_NAMES: Final = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "pr_auc",
    "brier",
    "log_loss",
    "lift_top_decile",
)
TARGET_NAMES: Final = ("stay", "churn")
_TOP_SHARE: Final = 0.10
#: The default thresholds of :func:`profit_curve`: 0.00, 0.01, ..., 1.00.
PROFIT_CURVE_THRESHOLDS: Final[Scores] = np.round(np.linspace(0.0, 1.0, 101), 2)


def _lift(y_true: Labels, proba: Scores, share: float = _TOP_SHARE) -> float:
    """Churn rate among the ``share`` highest scores divided by the overall churn rate.

    The top group holds ``ceil(share * n)`` customers. Customers tied at the cut-off score count
    fractionally (the expected value under random tie-breaking), so the result does not depend
    on row order.
    """
    k = max(1, math.ceil(share * y_true.size))
    cutoff = np.sort(proba)[::-1][k - 1]
    above, tied = proba > cutoff, proba == cutoff
    n_from_tied = k - int(above.sum())
    churners = y_true[above].sum() + n_from_tied * y_true[tied].mean()
    return float(churners / k / y_true.mean())


def classification_metrics(
    y_true: ArrayLike, proba: ArrayLike, threshold: float
) -> dict[str, float]:
    """Headline metrics of churn predictions.

    Args:
        y_true: Observed churn, 0 or 1; both classes must be present.
        proba: Predicted churn probabilities.
        threshold: Customers with ``proba >= threshold`` are predicted to churn.

    Returns:
        One value per name in :data:`METRIC_NAMES`: accuracy, precision, recall and F1 of the churn
        class at the threshold (0.0 when undefined), ROC AUC, PR AUC (average precision), Brier
        score, log loss and the lift of the top decile.

    Raises:
        ValueError: Invalid inputs (see :func:`churnguard.models.threshold.check_predictions`)
            or a threshold outside [0, 1].
    """
    y, scores = check_predictions(y_true, proba)
    predicted = decisions(scores, check_threshold(threshold))
    precision, recall, f1 = precision_recall_f1(y, predicted)
    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "roc_auc": float(roc_auc_score(y, scores)),
        "pr_auc": float(average_precision_score(y, scores)),
        "brier": float(brier_score_loss(y, scores)),
        "log_loss": float(log_loss(y, scores, labels=[0, 1])),
        "lift_top_decile": _lift(y, scores),
    }


def profit_curve(
    y_true: ArrayLike,
    proba: ArrayLike,
    config: ThresholdConfig,
    thresholds: ArrayLike | None = None,
) -> pd.DataFrame:
    """Expected retention profit and share of customers targeted at each threshold.

    Args:
        y_true: Observed churn, 0 or 1.
        proba: Predicted churn probabilities.
        config: Offer economics.
        thresholds: Thresholds in [0, 1]; ``0.00, 0.01, ..., 1.00`` when omitted.

    Returns:
        Columns ``threshold``, ``targeted_share`` and ``expected_profit``, in threshold order given.
    """
    y, scores = check_predictions(y_true, proba, require_both_classes=False)
    grid = check_thresholds(PROFIT_CURVE_THRESHOLDS if thresholds is None else thresholds)
    targeted, _ = targeted_counts(y, scores, grid)
    return pd.DataFrame(
        {
            "threshold": grid,
            "targeted_share": targeted / y.size,
            "expected_profit": profit_at_thresholds(y, scores, grid, config),
        }
    )


class EvaluationReport(BaseModel):
    """How a model's predictions did on one dataset; written as JSON beside the model.

    Attributes:
        metrics: :func:`classification_metrics` at ``threshold``.
        threshold: The decision threshold used.
        n_rows: Number of predictions.
        churn_rate: Observed churn rate.
        expected_profit: Expected retention profit at ``threshold``.
        slices: :func:`slice_metrics` rows; a NaN ROC AUC is stored as ``None``.
        confusion_matrix: ``[[tn, fp], [fn, tp]]``.
        classification_report: scikit-learn's text report (classes ``stay`` and ``churn``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    metrics: dict[str, float]
    threshold: float
    n_rows: int
    churn_rate: float
    expected_profit: float
    slices: list[SliceRow]
    confusion_matrix: list[list[int]]
    classification_report: str

    def slice_frame(self) -> pd.DataFrame:
        """The slice rows as a DataFrame (``None`` ROC AUC back to NaN)."""
        frame = pd.DataFrame(self.slices, columns=list(SLICE_COLUMNS))
        frame["roc_auc"] = frame["roc_auc"].astype("float64")
        return frame


def _json_safe(row: SliceRow) -> SliceRow:
    # JSON has no NaN: an undefined ROC AUC is stored as null.
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}


def evaluate_predictions(
    frame: pd.DataFrame,
    y_true: ArrayLike,
    proba: ArrayLike,
    threshold: float,
    threshold_config: ThresholdConfig,
    tenure_bins: Sequence[int],
) -> EvaluationReport:
    """Evaluate churn predictions on one dataset: metrics, slices, profit, confusion matrix.

    Args:
        frame: The processed customers predicted (for the slices).
        y_true: Observed churn, 0 or 1; both classes must be present.
        proba: Predicted churn probabilities.
        threshold: The decision threshold (chosen beforehand on training data).
        threshold_config: Offer economics for the expected profit.
        tenure_bins: Tenure bucket edges for the tenure slice.

    Returns:
        The JSON-serialisable report.
    """
    y, scores = check_predictions(y_true, proba)
    threshold = check_threshold(threshold)
    predicted = decisions(scores, threshold)
    matrix = confusion_matrix(y, predicted, labels=[0, 1])
    names = list(TARGET_NAMES)
    report = classification_report(
        y, predicted, labels=[0, 1], target_names=names, digits=3, zero_division=0.0
    )
    return EvaluationReport(
        metrics=classification_metrics(y, scores, threshold),
        threshold=threshold,
        n_rows=int(y.size),
        churn_rate=float(y.mean()),
        expected_profit=float(profit_at_thresholds(y, scores, [threshold], threshold_config)[0]),
        slices=[_json_safe(row) for row in slice_rows(frame, y, scores, threshold, tenure_bins)],
        confusion_matrix=[[int(count) for count in row] for row in matrix],
        classification_report=str(report),
    )


__all__ = [
    "METRIC_NAMES",
    "PROFIT_CURVE_THRESHOLDS",
    "SLICE_COLUMNS",
    "SLICE_NAMES",
    "TARGET_NAMES",
    "EvaluationReport",
    "classification_metrics",
    "evaluate_predictions",
    "profit_curve",
    "slice_metrics",
]
