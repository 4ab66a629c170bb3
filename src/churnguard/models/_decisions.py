"""Churn decisions at a threshold and their precision, recall and F1.

Shared by the headline metrics (:mod:`churnguard.models.evaluate`) and the per-slice metrics
(:mod:`churnguard.models.slices`), so both read a threshold the same way.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_fscore_support

from churnguard.models.threshold import Labels, Scores


def check_threshold(threshold: float) -> float:
    """``threshold`` as a float.

    Raises:
        ValueError: The threshold lies outside [0, 1] or is NaN.
    """
    if not 0.0 <= threshold <= 1.0:  # also rejects NaN
        raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
    return float(threshold)


def decisions(proba: Scores, threshold: float) -> Labels:
    """1 for the customers predicted to churn (``proba >= threshold``), else 0."""
    return (proba >= threshold).astype(np.int64)


def precision_recall_f1(y: Labels, predicted: Labels) -> tuple[float, float, float]:
    """Precision, recall and F1 of the churn class (0.0 when undefined)."""
    precision, recall, f1, _ = precision_recall_fscore_support(
        y, predicted, labels=[1], average="binary", pos_label=1, zero_division=0.0
    )
    return float(precision), float(recall), float(f1)


__all__ = ["check_threshold", "decisions", "precision_recall_f1"]
