"""The feature pipeline placed in front of the estimator in the logged model.

It holds only scikit-learn built-ins, `TelcoFeatureEngineer` and one module-level naming function,
so it pickles and round-trips through ``skops.io``.
"""

from __future__ import annotations

import re
from typing import Final

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from churnguard.data.schema import (
    CATEGORICAL_FEATURES,
    CATEGORIES,
    ID_COLUMN,
    NUMERIC_FEATURES,
    TARGET_COLUMN,
)
from churnguard.features.config import FeatureConfig
from churnguard.features.transformers import (
    ENGINEERED_CATEGORICAL_FEATURES,
    ENGINEERED_CONTINUOUS_FEATURES,
    ENGINEERED_FLAG_FEATURES,
    TelcoFeatureEngineer,
    check_feature_frame,
    tenure_bucket_labels,
)

#: Categorical columns one-hot encoded by the pipeline.
ONE_HOT_FEATURES: Final = (*CATEGORICAL_FEATURES, *ENGINEERED_CATEGORICAL_FEATURES)
# SeniorCitizen is already a 0/1 flag: flags are passed through, never scaled.
_BINARY_NUMERIC: Final = ("SeniorCitizen",)
#: Continuous numeric columns, standardised when ``FeatureConfig.scale_numeric`` is set.
CONTINUOUS_FEATURES: Final = (
    *(c for c in NUMERIC_FEATURES if c not in _BINARY_NUMERIC),
    *ENGINEERED_CONTINUOUS_FEATURES,
)
#: 0/1 columns passed through unchanged.
FLAG_FEATURES: Final = (*_BINARY_NUMERIC, *ENGINEERED_FLAG_FEATURES)

_WHITESPACE: Final = re.compile(r"\s+")


def one_hot_feature_name(feature: str, category: object) -> str:
    """Name a one-hot column ``<feature>_<category>`` with whitespace replaced by ``_``.

    LightGBM silently rewrites whitespace in feature names; naming the columns the same way here
    keeps the pipeline's and the model's feature names identical.

    Args:
        feature: Input column name.
        category: Category value.

    Returns:
        The output column name, e.g. ``"InternetService_Fiber_optic"``.
    """
    return _WHITESPACE.sub("_", f"{feature}_{category}")


def build_feature_pipeline(config: FeatureConfig) -> Pipeline:
    """Build the unfitted feature pipeline: engineer, then encode.

    Categories are fixed from the schema (and the tenure buckets from ``config``), so the output
    columns do not depend on which values the training data happens to contain; a value outside
    them at transform time encodes as all zeros. The pipeline outputs pandas DataFrames.

    Args:
        config: Feature settings.

    Returns:
        ``Pipeline([("engineer", TelcoFeatureEngineer), ("encode", ColumnTransformer)])``.
    """
    # Excluded features (protected attributes such as gender) never reach the model, so its
    # predictions are invariant to them by construction.
    one_hot_columns = [c for c in ONE_HOT_FEATURES if c not in config.exclude]
    categories = [list(CATEGORIES[c]) for c in CATEGORICAL_FEATURES if c not in config.exclude]
    categories.append(list(tenure_bucket_labels(config.tenure_bins)))
    one_hot = OneHotEncoder(
        categories=categories,
        handle_unknown="ignore",
        sparse_output=False,
        dtype=np.float64,
        feature_name_combiner=one_hot_feature_name,
    )
    scaler = StandardScaler() if config.scale_numeric else "passthrough"
    encode = ColumnTransformer(
        [
            ("categorical", one_hot, one_hot_columns),
            ("continuous", scaler, [c for c in CONTINUOUS_FEATURES if c not in config.exclude]),
            ("flags", "passthrough", [c for c in FLAG_FEATURES if c not in config.exclude]),
        ],
        remainder="drop",
        verbose_feature_names_out=False,
    )
    pipeline = Pipeline(
        [("engineer", TelcoFeatureEngineer(tenure_bins=config.tenure_bins)), ("encode", encode)]
    )
    return pipeline.set_output(transform="pandas")


def engineered_feature_frame(df: pd.DataFrame, config: FeatureConfig) -> pd.DataFrame:
    """Fit the feature pipeline on ``df`` and return the model-ready features.

    Used by the build-features stage to inspect and store the training features.

    Args:
        df: Processed frame holding the feature columns, optionally the id and target.
        config: Feature settings.

    Returns:
        The transformed features with the index of ``df``, preceded by ``ID_COLUMN`` and followed
        by ``TARGET_COLUMN`` when ``df`` holds them.
    """
    features = build_feature_pipeline(config).fit_transform(check_feature_frame(df))
    if not isinstance(features, pd.DataFrame):  # pragma: no cover - set_output guarantees it
        raise TypeError(f"feature pipeline returned {type(features).__name__}, not a DataFrame")
    parts = []
    if ID_COLUMN in df.columns:
        parts.append(df[[ID_COLUMN]])
    parts.append(features)
    if TARGET_COLUMN in df.columns:
        parts.append(df[[TARGET_COLUMN]])
    return pd.concat(parts, axis=1)
