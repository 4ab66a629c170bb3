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


def contributions(
    pipeline: Pipeline, frame: pd.DataFrame
) -> tuple[pd.DataFrame, NDArray[np.float64]]:
    """Per-row, per-encoded-feature contributions in log-odds, and the base value per row."""
    encoded = encoded_features(pipeline, frame)
    classifier = pipeline.named_steps["classifier"]
    if isinstance(classifier, LGBMClassifier):
        raw = np.asarray(
            classifier.booster_.predict(encoded.to_numpy(dtype=np.float64), pred_contrib=True),
            dtype=np.float64,
        )
        values, base = raw[:, :-1], raw[:, -1]
    else:
        coef = np.asarray(classifier.coef_[0], dtype=np.float64)
        centred = encoded.to_numpy(dtype=np.float64) - encoded.to_numpy(dtype=np.float64).mean(
            axis=0
        )
        values = centred * coef
        base = np.full(
            len(encoded), float(classifier.intercept_[0]) + float(encoded.mean(axis=0) @ coef)
        )
    return pd.DataFrame(values, columns=encoded.columns, index=frame.index), np.asarray(
        base, dtype=np.float64
    )


def global_importance(model: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """Mean |SHAP| and the classifier's own importance per encoded feature, largest first."""
    pipeline = unwrap_pipeline(model)
    shap_values, _ = contributions(pipeline, frame)
    classifier = pipeline.named_steps["classifier"]
    if isinstance(classifier, LGBMClassifier):
        native = classifier.booster_.feature_importance(importance_type="gain")
    else:
        native = np.abs(classifier.coef_[0])
    table = pd.DataFrame(
        {
            "feature": shap_values.columns,
            "mean_abs_shap": shap_values.abs().mean(axis=0).to_numpy(),
            "importance": np.asarray(native, dtype=np.float64),
        }
    )
    return table.sort_values("mean_abs_shap", ascending=False, ignore_index=True)


__all__ = ["contributions", "encoded_features", "global_importance", "unwrap_pipeline"]
