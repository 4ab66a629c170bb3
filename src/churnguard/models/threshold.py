"""Choosing the decision threshold: F1 or expected retention profit, on out-of-fold predictions.

Training calls :func:`choose_threshold` on out-of-fold predictions of the TRAIN split only, so the
test split never influences the threshold it is later scored with.

Candidate thresholds are the fixed grid ``0.01, 0.02, ..., 0.99`` (:data:`THRESHOLD_GRID`), not
the observed probabilities: a round threshold is easy to report, does not hug one training score,
and every run searches the same candidates. A customer is targeted when ``proba >= threshold``.
When several candidates score the same, the lowest one wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from churnguard.models.config import ThresholdConfig

#: The candidate thresholds searched by :func:`choose_threshold`.
THRESHOLD_GRID: Final[NDArray[np.float64]] = np.round(np.linspace(0.01, 0.99, 99), 2)

Labels = NDArray[np.int64]
Scores = NDArray[np.float64]


@dataclass(frozen=True)
class ThresholdChoice:
    """The chosen threshold, why it was chosen, and how it performs on the data it was chosen on.

    Attributes:
        threshold: Customers with a churn probability at or above it are targeted.
        strategy: ``"f1"`` or ``"profit"``.
        score: The value the strategy maximised (F1, or expected profit).
        f1: F1 of the churn class at the threshold.
        precision: Precision of the churn class at the threshold.
        recall: Recall of the churn class at the threshold.
        expected_profit: Expected retention profit at the threshold (see :func:`expected_profit`).
    """

    threshold: float
    strategy: Literal["f1", "profit"]
    score: float
    f1: float
    precision: float
    recall: float
    expected_profit: float


def check_predictions(
    y_true: ArrayLike, proba: ArrayLike, *, require_both_classes: bool = True
) -> tuple[Labels, Scores]:
    """Check labels and churn probabilities and return them as 1-D numpy arrays.

    Args:
        y_true: Observed churn, 0 or 1.
        proba: Predicted churn probabilities in [0, 1].
        require_both_classes: Also require at least one churner and one non-churner.

    Returns:
        ``(y_true, proba)`` as int64 and float64 arrays.

    Raises:
        ValueError: The arrays are empty, not 1-D or of different lengths, a label is not 0/1,
            a probability is missing or outside [0, 1], or (if required) a class is absent.
    """
    labels = np.asarray(y_true)
    try:
        scores = np.asarray(proba, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"proba must hold numbers (churn probabilities): {error}") from error
    if labels.ndim != 1 or scores.ndim != 1:
        raise ValueError(
            f"y_true and proba must be 1-D, got shapes {labels.shape} and {scores.shape}; "
            "pass the positive-class column of predict_proba"
        )
    if len(labels) != len(scores):
        raise ValueError(
            f"y_true and proba must have the same length, got {len(labels)} and {len(scores)}"
        )
    if len(labels) == 0:
        raise ValueError("y_true and proba are empty: need at least one prediction")
    if labels.dtype.kind not in "biuf" or not np.isin(labels, (0, 1)).all():
        raise ValueError(
            f"y_true must hold only 0 and 1 (no NaN), got values {_examples(labels)}; "
            "encode Churn as 0/1 as churnguard.data.preprocess does"
        )
    if np.isnan(scores).any():
        raise ValueError(f"proba holds {int(np.isnan(scores).sum())} NaN value(s)")
    if ((scores < 0) | (scores > 1)).any():
        raise ValueError(f"proba must lie in [0, 1], got range [{scores.min()}, {scores.max()}]")
    y = labels.astype(np.int64)
    if require_both_classes and np.unique(y).size < 2:
        raise ValueError(
            f"y_true holds only class {int(y[0])}: both churners (1) and non-churners (0) "
            "are needed"
        )
    return y, scores


def _examples(values: NDArray[np.generic]) -> str:
    shown = sorted({repr(v.item()) for v in values[:1000]})
    return ", ".join(shown[:5])


def check_thresholds(thresholds: ArrayLike) -> Scores:
    """Return thresholds as a float array after checking they are finite and in [0, 1]."""
    grid = np.asarray(thresholds, dtype=np.float64)
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError(f"thresholds must be a non-empty 1-D sequence, got shape {grid.shape}")
    if not np.isfinite(grid).all() or (grid < 0).any() or (grid > 1).any():
        raise ValueError("thresholds must be finite numbers in [0, 1]")
    return grid


def targeted_counts(
    y_true: Labels, proba: Scores, thresholds: Scores
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Count, for every threshold at once, the targeted customers and the targeted churners.

    Args:
        y_true: Checked 0/1 labels.
        proba: Checked probabilities.
        thresholds: Thresholds in [0, 1].

    Returns:
        ``(targeted, true_positives)``, one entry per threshold.
    """
    # Rows with proba >= t are those from searchsorted(side="left") to the end of the sorted array.
    everyone = np.sort(proba)
    churners = np.sort(proba[y_true == 1])
    targeted = everyone.size - np.searchsorted(everyone, thresholds, side="left")
    true_positives = churners.size - np.searchsorted(churners, thresholds, side="left")
    return targeted.astype(np.int64), true_positives.astype(np.int64)


def _profit(
    targeted: NDArray[np.int64], true_positives: NDArray[np.int64], config: ThresholdConfig
) -> Scores:
    value_per_churner = config.offer_success_rate * config.saved_customer_value
    profit: Scores = true_positives * value_per_churner - targeted * config.offer_cost
    return profit


def profit_at_thresholds(
    y_true: ArrayLike, proba: ArrayLike, thresholds: ArrayLike, config: ThresholdConfig
) -> Scores:
    """Expected profit (see :func:`expected_profit`) at each threshold, vectorised."""
    y, scores = check_predictions(y_true, proba, require_both_classes=False)
    targeted, true_positives = targeted_counts(y, scores, check_thresholds(thresholds))
    return _profit(targeted, true_positives, config)


def expected_profit(
    y_true: ArrayLike, proba: ArrayLike, threshold: float, config: ThresholdConfig
) -> float:
    """Expected profit of offering retention to every customer with ``proba >= threshold``.

    Each offer costs ``offer_cost``; a targeted customer who would churn stays with probability
    ``offer_success_rate`` and is then worth ``saved_customer_value``. The profit is
    ``sum over targeted of (y * offer_success_rate * saved_customer_value - offer_cost)``.

    Args:
        y_true: Observed churn, 0 or 1.
        proba: Predicted churn probabilities.
        threshold: Targeting threshold in [0, 1].
        config: Offer cost, success rate and value of a saved customer.

    Returns:
        The expected profit (negative when offers cost more than they save).
    """
    return float(profit_at_thresholds(y_true, proba, [threshold], config)[0])


def choose_threshold(
    y_true: ArrayLike, proba: ArrayLike, config: ThresholdConfig
) -> ThresholdChoice:
    """Pick the threshold of :data:`THRESHOLD_GRID` that maximises the configured strategy.

    ``"f1"`` maximises the F1 of the churn class, ``"profit"`` the expected retention profit;
    ties go to the lowest threshold.

    Args:
        y_true: Observed churn (0/1) of out-of-fold TRAIN predictions.
        proba: The out-of-fold churn probabilities.
        config: Strategy and offer economics.

    Returns:
        The chosen threshold with its score, F1, precision, recall and expected profit.

    Raises:
        ValueError: The inputs fail :func:`check_predictions` (both classes are required).
    """
    y, scores = check_predictions(y_true, proba)
    targeted, true_positives = targeted_counts(y, scores, THRESHOLD_GRID)
    positives = int(y.sum())
    # F1 = 2 TP / (targeted + positives); positives > 0, so the denominator never vanishes.
    f1 = 2.0 * true_positives / (targeted + positives)
    profit = _profit(targeted, true_positives, config)
    objective = f1 if config.strategy == "f1" else profit
    best = int(np.argmax(objective))  # argmax returns the first maximum: the lowest threshold
    precision = true_positives[best] / targeted[best] if targeted[best] else 0.0
    return ThresholdChoice(
        threshold=float(THRESHOLD_GRID[best]),
        strategy=config.strategy,
        score=float(objective[best]),
        f1=float(f1[best]),
        precision=float(precision),
        recall=float(true_positives[best] / positives),
        expected_profit=float(profit[best]),
    )


__all__ = [
    "THRESHOLD_GRID",
    "ThresholdChoice",
    "check_predictions",
    "check_thresholds",
    "choose_threshold",
    "expected_profit",
    "profit_at_thresholds",
    "targeted_counts",
]
