"""The estimators: a scaled logistic regression (the baseline) and LightGBM.

Both take the feature frame (``FEATURE_NAMES`` columns, in order) and are deterministic: fixed
seeds, LightGBM's ``deterministic`` mode and single-threaded histogram construction order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol, Self

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fraudstream.feature_store import FEATURE_NAMES
from fraudstream.training.model_config import EstimatorName

Weighting = Literal["none", "balanced"]


class Estimator(Protocol):
    """What training and scoring need of a classifier (scikit-learn's contract)."""

    def fit(self, features: pd.DataFrame, labels: np.ndarray) -> Self:
        """Learn from ``features`` and 0/1 ``labels``."""

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Class probabilities, one row per input row."""


#: Threads LightGBM may use. One: on a 2-core machine with anything else running, OpenMP's
#: spinning threads made a 300-tree fit on 70k rows 16x slower with 2 threads (20.5 s vs 1.3 s,
#: measured 2026-12-07 under load); one thread is also deterministic by construction.
LIGHTGBM_THREADS = 1


def build_estimator(
    name: EstimatorName, params: Mapping[str, Any], weighting: Weighting, seed: int
) -> Estimator:
    """An unfitted estimator of kind ``name`` with ``params`` and class weighting."""
    class_weight = "balanced" if weighting == "balanced" else None
    estimator: Estimator
    if name == "logistic":
        estimator = make_pipeline(
            StandardScaler(),
            LogisticRegression(**dict(params), class_weight=class_weight, random_state=seed),
        )
        return estimator
    estimator = LGBMClassifier(
        **dict(params),
        class_weight=class_weight,
        random_state=seed,
        deterministic=True,
        force_row_wise=True,
        n_jobs=LIGHTGBM_THREADS,
        verbose=-1,
    )
    return estimator


def feature_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input: the declared features, in the declared order."""
    return frame[list(FEATURE_NAMES)]


def fit(estimator: Estimator, frame: pd.DataFrame, labels: pd.Series) -> Estimator:
    """Fit ``estimator`` on ``frame``'s features and ``labels``; return it."""
    estimator.fit(feature_matrix(frame), labels.to_numpy())
    return estimator


def fraud_probability(estimator: Estimator, frame: pd.DataFrame) -> np.ndarray:
    """The fraud probability of each row of ``frame``."""
    probabilities: np.ndarray = estimator.predict_proba(feature_matrix(frame))[:, 1]
    return probabilities


__all__ = [
    "LIGHTGBM_THREADS",
    "Estimator",
    "Weighting",
    "build_estimator",
    "feature_matrix",
    "fit",
    "fraud_probability",
]
