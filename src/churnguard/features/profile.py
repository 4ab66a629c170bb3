"""Reference profile of the training features, the baseline for drift detection.

`build_reference_profile` is pure: it returns a pydantic model and the caller writes it as JSON
(``profile.model_dump_json()``) and reads it back (``ReferenceProfile.model_validate_json``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal

import numpy as np
import pandas as pd
from pydantic import AwareDatetime, BaseModel, ConfigDict

from churnguard.data.schema import (
    CATEGORICAL_FEATURES,
    CATEGORIES,
    FEATURE_COLUMNS,
    NUMERIC_FEATURES,
    TARGET_COLUMN,
)
from churnguard.features.config import FeatureConfig
from churnguard.features.transformers import (
    ENGINEERED_CATEGORICAL_FEATURES,
    ENGINEERED_FEATURES,
    ENGINEERED_NUMERIC_FEATURES,
    TENURE_BUCKET,
    FeatureInputError,
    TelcoFeatureEngineer,
    tenure_bucket_labels,
)

_QUANTILES: Final = {
    "p01": 0.01,
    "p05": 0.05,
    "p25": 0.25,
    "p50": 0.5,
    "p75": 0.75,
    "p95": 0.95,
    "p99": 0.99,
}


class _ProfileModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Quantiles(_ProfileModel):
    """Quantiles of a numeric column (linear interpolation)."""

    p01: float
    p05: float
    p25: float
    p50: float
    p75: float
    p95: float
    p99: float


class Histogram(_ProfileModel):
    """Histogram over the observed range; ``len(edges) == len(counts) + 1``.

    Bins are half-open ``[edge_i, edge_i+1)`` except the last, which includes the maximum.
    """

    edges: list[float]
    counts: list[int]


class NumericFeatureProfile(_ProfileModel):
    """Statistics of a numeric column; non-finite values count as missing.

    ``count`` is the number of non-missing values. The statistics are ``None`` when there are
    none; ``std`` is the population standard deviation.
    """

    kind: Literal["numeric"] = "numeric"
    count: int
    missing_share: float
    mean: float | None
    std: float | None
    min: float | None
    max: float | None
    quantiles: Quantiles | None
    histogram: Histogram | None


class CategoricalFeatureProfile(_ProfileModel):
    """Value counts of a categorical column.

    ``value_counts`` lists every expected category (zero counts included) in schema order, then
    any unexpected observed value. ``value_shares`` are shares of the non-missing values.
    """

    kind: Literal["categorical"] = "categorical"
    count: int
    missing_share: float
    value_counts: dict[str, int]
    value_shares: dict[str, float]


class ReferenceProfile(_ProfileModel):
    """Per-column statistics of the training features, raw and engineered.

    Attributes:
        created_at: When the profile was built (UTC).
        n_rows: Rows profiled.
        target_rate: Share of churners when the target column was present.
        features: Profiled columns: ``FEATURE_COLUMNS`` then ``ENGINEERED_FEATURES``.
        numeric: Profiles of the numeric columns.
        categorical: Profiles of the categorical columns.
        config: Feature settings the profile was built with.
    """

    created_at: AwareDatetime
    n_rows: int
    target_rate: float | None
    features: list[str]
    numeric: dict[str, NumericFeatureProfile]
    categorical: dict[str, CategoricalFeatureProfile]
    config: FeatureConfig


def profile_numeric(values: pd.Series[float], bins: int) -> NumericFeatureProfile:
    """Profile one numeric column.

    Args:
        values: The column; must not be empty.
        bins: Number of histogram bins.

    Returns:
        Count, missing share, moments, quantiles and histogram.
    """
    data = values.to_numpy(dtype=np.float64, na_value=np.nan)
    observed = data[np.isfinite(data)]
    missing_share = 1.0 - observed.size / data.size
    if observed.size == 0:
        return NumericFeatureProfile(
            count=0,
            missing_share=missing_share,
            mean=None,
            std=None,
            min=None,
            max=None,
            quantiles=None,
            histogram=None,
        )
    counts, edges = np.histogram(observed, bins=bins, range=(observed.min(), observed.max()))
    quantiles = np.quantile(observed, list(_QUANTILES.values()))
    return NumericFeatureProfile(
        count=int(observed.size),
        missing_share=missing_share,
        mean=float(observed.mean()),
        std=float(observed.std()),
        min=float(observed.min()),
        max=float(observed.max()),
        quantiles=Quantiles(**dict(zip(_QUANTILES, map(float, quantiles), strict=True))),
        histogram=Histogram(edges=edges.tolist(), counts=counts.tolist()),
    )


def profile_categorical(
    values: pd.Series[str], categories: tuple[str, ...]
) -> CategoricalFeatureProfile:
    """Profile one categorical column.

    Args:
        values: The column; must not be empty.
        categories: Expected values, reported even when absent.

    Returns:
        Count, missing share, value counts and shares.
    """
    observed = values.dropna().astype(str)
    counted = observed.value_counts()
    unexpected = sorted(set(counted.index) - set(categories))
    value_counts = {value: int(counted.get(value, 0)) for value in (*categories, *unexpected)}
    total = len(observed)
    return CategoricalFeatureProfile(
        count=total,
        missing_share=1.0 - total / len(values),
        value_counts=value_counts,
        value_shares={value: (n / total if total else 0.0) for value, n in value_counts.items()},
    )


def _target_rate(df: pd.DataFrame) -> float | None:
    if TARGET_COLUMN not in df.columns:
        return None
    target = df[TARGET_COLUMN]
    if not target.isin([0, 1]).all():
        raise FeatureInputError(
            f"{TARGET_COLUMN!r} must hold 0/1 integers in a processed frame, got values "
            f"{sorted(map(str, target.unique()))[:5]}; run the preprocessing stage first"
        )
    return float(target.mean())


def build_reference_profile(
    df: pd.DataFrame, config: FeatureConfig, *, created_at: datetime | None = None
) -> ReferenceProfile:
    """Profile the raw feature columns and the engineered features of a processed frame.

    Args:
        df: Processed training frame (feature columns, optionally id and 0/1 target).
        config: Feature settings (tenure buckets, histogram bins).
        created_at: Timestamp to record; defaults to now (UTC).

    Returns:
        The reference profile.

    Raises:
        FeatureInputError: If ``df`` is empty, lacks feature columns or has a non-0/1 target.
    """
    if df.empty:
        raise FeatureInputError("cannot profile an empty frame; pass the processed training data")
    engineered = TelcoFeatureEngineer(tenure_bins=config.tenure_bins).fit_transform(df)
    expected_categories = {**CATEGORIES, TENURE_BUCKET: tenure_bucket_labels(config.tenure_bins)}
    numeric = {
        column: profile_numeric(engineered[column], config.profile_bins)
        for column in (*NUMERIC_FEATURES, *ENGINEERED_NUMERIC_FEATURES)
    }
    categorical = {
        column: profile_categorical(engineered[column], expected_categories[column])
        for column in (*CATEGORICAL_FEATURES, *ENGINEERED_CATEGORICAL_FEATURES)
    }
    return ReferenceProfile(
        created_at=created_at or datetime.now(UTC),
        n_rows=len(df),
        target_rate=_target_rate(df),
        features=[*FEATURE_COLUMNS, *ENGINEERED_FEATURES],
        numeric=numeric,
        categorical=categorical,
        config=config,
    )
