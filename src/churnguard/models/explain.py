"""Explanations: feature importance and SHAP contributions of a fitted churnguard model.

For LightGBM the contributions are LightGBM's exact TreeSHAP (``pred_contrib=True``); for the
logistic model they are the exact linear attributions ``coef * (x - mean(x))`` in log-odds.
Both are computed on the encoded features the classifier sees.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from numpy.typing import NDArray
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import Pipeline

from churnguard.models.blend import LogOddsBlend


def unwrap_pipeline(model: Any) -> Pipeline:
    """The features + classifier pipeline inside a (possibly calibrated) churnguard model."""
    if isinstance(model, CalibratedClassifierCV):
        inner = model.calibrated_classifiers_[0].estimator
        if isinstance(inner, Pipeline):
            return inner
    if isinstance(model, Pipeline):
        return model
    msg = f"not a churnguard model: {type(model).__name__}"
    raise TypeError(msg)


def encoded_features(pipeline: Pipeline, frame: pd.DataFrame) -> pd.DataFrame:
    """The encoded feature matrix the classifier sees for ``frame``."""
    encoded = pipeline.named_steps["features"].transform(frame)
    return pd.DataFrame(encoded, columns=pipeline.named_steps["features"].get_feature_names_out())


def _classifier_contributions(
    classifier: Any, encoded: pd.DataFrame
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if isinstance(classifier, LogOddsBlend):
        linear, linear_base = _classifier_contributions(classifier.logistic_, encoded)
        trees, trees_base = _classifier_contributions(classifier.lightgbm_, encoded)
        w = classifier.weight
        return w * linear + (1 - w) * trees, w * linear_base + (1 - w) * trees_base
    matrix = encoded.to_numpy(dtype=np.float64)
    if isinstance(classifier, LGBMClassifier):
        raw = np.asarray(classifier.booster_.predict(matrix, pred_contrib=True), dtype=np.float64)
        return raw[:, :-1], raw[:, -1]
    coef = np.asarray(classifier.coef_[0], dtype=np.float64)
    mean = matrix.mean(axis=0)
    base = np.full(len(matrix), float(classifier.intercept_[0]) + float(mean @ coef))
    return (matrix - mean) * coef, base


def contributions(
    pipeline: Pipeline, frame: pd.DataFrame
) -> tuple[pd.DataFrame, NDArray[np.float64]]:
    """Per-row, per-encoded-feature contributions in log-odds, and the base value per row.

    They are exact: ``contributions.sum(axis=1) + base == logit(p)`` of the uncalibrated
    pipeline (LightGBM TreeSHAP, linear attribution, or the blend's weighted sum of both).
    """
    encoded = encoded_features(pipeline, frame)
    values, base = _classifier_contributions(pipeline.named_steps["classifier"], encoded)
    return pd.DataFrame(values, columns=encoded.columns, index=frame.index), base


def _native_importance(classifier: Any) -> NDArray[np.float64]:
    """LightGBM gain, |coefficient| (logistic), or the weighted sum of both normalised (blend)."""
    if isinstance(classifier, LogOddsBlend):
        linear = _native_importance(classifier.logistic_)
        trees = _native_importance(classifier.lightgbm_)
        w = classifier.weight
        blended = w * linear / max(linear.sum(), 1e-12) + (1 - w) * trees / max(trees.sum(), 1e-12)
        return np.asarray(blended, dtype=np.float64)
    if isinstance(classifier, LGBMClassifier):
        return np.asarray(
            classifier.booster_.feature_importance(importance_type="gain"), dtype=np.float64
        )
    return np.abs(np.asarray(classifier.coef_[0], dtype=np.float64))


def global_importance(model: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """Mean |SHAP| and the classifier's own importance per encoded feature, largest first."""
    pipeline = unwrap_pipeline(model)
    shap_values, _ = contributions(pipeline, frame)
    native = _native_importance(pipeline.named_steps["classifier"])
    table = pd.DataFrame(
        {
            "feature": shap_values.columns,
            "mean_abs_shap": shap_values.abs().mean(axis=0).to_numpy(),
            "importance": np.asarray(native, dtype=np.float64),
        }
    )
    return table.sort_values("mean_abs_shap", ascending=False, ignore_index=True)


__all__ = ["contributions", "encoded_features", "global_importance", "unwrap_pipeline"]
