"""Exact per-feature contributions to a score: why a transaction raised an alert.

Both model kinds are additive in log-odds, so the contributions are exact, not approximations:
``bias + sum(contributions) == logit(probability)``.

- LightGBM: TreeSHAP values (``predict(..., pred_contrib=True)``), computed by LightGBM itself.
- The logistic baseline: ``coefficient * standardised value`` per feature, the intercept as bias.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.pipeline import Pipeline

from fraudstream.transactions.event import Reason

FloatMatrix = npt.NDArray[np.float64]


def contributions(estimator: Any, features: pd.DataFrame | FloatMatrix) -> FloatMatrix:
    """Per-row log-odds contributions: one column per feature, then the bias (last column).

    Args:
        estimator: A fitted LightGBM classifier or the scaled logistic pipeline.
        features: The model's input columns, in the model's order (a frame, or a matrix of
            them).

    Raises:
        TypeError: an estimator of another kind (it has no exact decomposition here).
    """
    if isinstance(estimator, LGBMClassifier):
        matrix = (
            features.to_numpy(dtype=np.float64) if isinstance(features, pd.DataFrame) else features
        )
        values = estimator.booster_.predict(matrix, pred_contrib=True)
        return np.asarray(values, dtype=np.float64)
    if isinstance(estimator, Pipeline):
        scaler, model = estimator[:-1], estimator[-1]
        if not isinstance(features, pd.DataFrame):
            features = pd.DataFrame(features, columns=list(scaler.feature_names_in_))
        scaled = np.asarray(scaler.transform(features), dtype=np.float64)
        coef = np.asarray(model.coef_, dtype=np.float64)[0]
        bias = np.full((len(features), 1), float(np.asarray(model.intercept_)[0]))
        return np.hstack([scaled * coef, bias])
    msg = f"no exact contributions for a {type(estimator).__name__}"
    raise TypeError(msg)


def top_reasons(
    names: tuple[str, ...], values: npt.NDArray[np.float64], contribution: FloatMatrix, k: int
) -> list[Reason]:
    """The ``k`` features that pushed one score up the most (largest positive contributions first).

    Args:
        names: Feature names, in the model's order.
        values: That row's feature values.
        contribution: That row's contributions (features, then the bias).
        k: How many reasons.
    """
    per_feature = contribution[: len(names)]
    order = np.argsort(-per_feature, kind="stable")[:k]
    return [
        Reason(feature=names[i], value=float(values[i]), contribution=float(per_feature[i]))
        for i in order
    ]


__all__ = ["contributions", "top_reasons"]
