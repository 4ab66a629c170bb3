"""Drift detection: a window of served data compared with the training reference.

`detect_drift` is pure (numpy and scipy only). Per feature it computes the population stability
index (PSI) on the reference bins, and a test with its effect size: the two-sample
Kolmogorov-Smirnov statistic for numeric features, a chi-square goodness-of-fit test and Cohen's
w for categorical ones. Both tests use the effective sample size ``n·m / (n + m)`` of the
reference (n) and current (m) samples, because the reference is a sample too: a plain
goodness-of-fit test against it would reject far too often.

A p-value alone is not a decision: with 50,000 rows a harmless 1 % shift is "significant". A
feature drifts when its PSI reaches ``psi_threshold``, or when its test is significant AND its
effect size reaches ``drift_min_effect``.
"""

from __future__ import annotations

import itertools
from typing import Final, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict
from scipy import stats

from churnguard.data.schema import FEATURE_COLUMNS
from churnguard.monitoring.config import MonitoringConfig
from churnguard.monitoring.reference import (
    DRIFT_CATEGORICAL_FEATURES,
    DRIFT_NUMERIC_FEATURES,
    PREDICTION_COLUMN,
    CategoricalReference,
    DriftReference,
    Floats,
    MonitoringInputError,
    NumericReference,
    bin_index,
    category_counts,
    numeric_values,
    probability_values,
    require_columns,
)

#: Floor of a bin share in PSI and of a reference share in Cohen's w (an empty bin would
#: otherwise make both infinite).
SHARE_EPSILON: Final = 1e-4

DriftStatus = Literal["ok", "drift", "insufficient_data"]


class _ReportModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureDrift(_ReportModel):
    """How one feature (or the churn probability) compares with the reference.

    Attributes:
        feature: Column name.
        kind: ``numeric`` (PSI on quantile bins, KS test) or ``categorical`` (PSI, chi-square).
        psi: Population stability index over ``bins``.
        statistic: KS statistic D (numeric) or chi-square statistic (categorical).
        p_value: p-value of that test.
        effect: Effect size: KS D (numeric) or Cohen's w (categorical).
        drifted: The decision (see the module docstring).
        bins: Bin labels: intervals such as ``(29, 47]`` or category values.
        reference_shares: Share of the reference in each bin.
        current_shares: Share of the current window in each bin.
    """

    feature: str
    kind: Literal["numeric", "categorical"]
    psi: float
    statistic: float
    p_value: float
    effect: float
    drifted: bool
    bins: list[str]
    reference_shares: list[float]
    current_shares: list[float]


class DriftReport(_ReportModel):
    """Drift of one window of data.

    Attributes:
        status: ``insufficient_data`` below ``drift_min_rows`` rows (nothing is flagged), else
            ``drift`` when the dataset or the predictions drift, else ``ok``.
        n_rows: Rows in the window.
        reference_rows: Rows the feature reference was built from.
        features: One entry per feature in ``FEATURE_COLUMNS`` order (empty for zero rows).
        drift_share: Share of the features that drifted.
        dataset_drift: ``drift_share`` reached ``drift_share_threshold``.
        prediction: Drift of the churn probability, when the window and the reference have it.
        prediction_drift: Its PSI reached ``prediction_psi_threshold``.
    """

    status: DriftStatus
    n_rows: int
    reference_rows: int
    features: list[FeatureDrift]
    drift_share: float
    dataset_drift: bool
    prediction: FeatureDrift | None
    prediction_drift: bool

    @property
    def drifted_features(self) -> list[str]:
        """Names of the features that drifted."""
        return [f.feature for f in self.features if f.drifted]


def psi(reference: Floats, current: Floats) -> float:
    """Population stability index of two share vectors, shares floored at `SHARE_EPSILON`."""
    ref = np.maximum(reference, SHARE_EPSILON)
    cur = np.maximum(current, SHARE_EPSILON)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def _effective_size(n_reference: int, n_current: int) -> float:
    return n_reference * n_current / (n_reference + n_current)


def ks_statistic(reference: NumericReference, ordered: Floats) -> float:
    """Two-sample KS statistic of the reference ECDF and the sorted current values.

    Exact when the reference ECDF is exact; otherwise off by at most the largest CDF step between
    two stored points (about ``1 / ecdf_points``).
    """
    points = np.asarray(reference.ecdf_values)
    cdf = np.asarray(reference.ecdf_cdf)
    before = np.concatenate(([0.0], cdf[:-1]))  # the reference CDF just below each point
    at = np.searchsorted(ordered, points, side="right") / ordered.size
    below = np.searchsorted(ordered, points, side="left") / ordered.size
    return float(max(np.max(np.abs(cdf - at)), np.max(np.abs(before - below))))


def _interval_labels(edges: list[float]) -> list[str]:
    inner = [f"({lo:g}, {hi:g}]" for lo, hi in itertools.pairwise(edges)]
    return [f"<= {edges[0]:g}", *inner, f"> {edges[-1]:g}"]


def numeric_drift(
    feature: str, reference: NumericReference, values: Floats, config: MonitoringConfig
) -> FeatureDrift:
    """Compare current numeric values (not empty) with their reference."""
    ordered = np.sort(values)
    edges = np.asarray(reference.edges)
    current = np.bincount(bin_index(edges, ordered), minlength=edges.size + 1) / ordered.size
    shares = np.asarray(reference.shares)
    index = psi(shares, current)
    d = ks_statistic(reference, ordered)
    n = round(_effective_size(reference.count, ordered.size))
    p_value = float(stats.kstwo.sf(d, max(n, 1)))
    return FeatureDrift(
        feature=feature,
        kind="numeric",
        psi=index,
        statistic=d,
        p_value=p_value,
        effect=d,
        drifted=_decide(index, p_value, d, config),
        bins=_interval_labels(reference.edges),
        reference_shares=reference.shares,
        current_shares=current.tolist(),
    )


def categorical_drift(
    feature: str, reference: CategoricalReference, counts: dict[str, int], config: MonitoringConfig
) -> FeatureDrift:
    """Compare current category counts (not all zero) with the reference shares.

    Values absent from the reference get their own bin (reference share 0, floored at
    `SHARE_EPSILON`), so an unseen category shows up as drift.
    """
    labels = [*reference.shares, *sorted(set(counts) - set(reference.shares))]
    ref = np.array([reference.shares.get(label, 0.0) for label in labels])
    total = sum(counts.values())
    cur = np.array([counts.get(label, 0) for label in labels], dtype=np.float64) / total
    seen = (ref > 0) | (cur > 0)
    w = float(np.sqrt(np.sum((cur[seen] - ref[seen]) ** 2 / np.maximum(ref[seen], SHARE_EPSILON))))
    dof = int(seen.sum()) - 1
    chi2 = _effective_size(reference.count, total) * w**2
    p_value = float(stats.chi2.sf(chi2, dof)) if dof >= 1 else 1.0
    index = psi(ref, cur)
    return FeatureDrift(
        feature=feature,
        kind="categorical",
        psi=index,
        statistic=chi2,
        p_value=p_value,
        effect=w,
        drifted=_decide(index, p_value, w, config),
        bins=labels,
        reference_shares=ref.tolist(),
        current_shares=cur.tolist(),
    )


def _decide(index: float, p_value: float, effect: float, config: MonitoringConfig) -> bool:
    significant = p_value < config.drift_alpha and effect >= config.drift_min_effect
    return index >= config.psi_threshold or significant


def _prediction_drift(
    reference: DriftReference, frame: pd.DataFrame, config: MonitoringConfig
) -> FeatureDrift | None:
    if reference.prediction is None or PREDICTION_COLUMN not in frame.columns:
        return None
    if not pd.api.types.is_numeric_dtype(frame[PREDICTION_COLUMN]):
        raise MonitoringInputError(
            f"column {PREDICTION_COLUMN!r} must hold numbers in [0, 1], got dtype "
            f"{frame[PREDICTION_COLUMN].dtype}"
        )
    values = probability_values(
        frame[PREDICTION_COLUMN].to_numpy(dtype=np.float64, na_value=np.nan),
        f"column {PREDICTION_COLUMN!r}",
    )
    found = numeric_drift(PREDICTION_COLUMN, reference.prediction, values, config)
    # Prediction drift is decided on PSI alone (the configured prediction threshold).
    return found.model_copy(update={"drifted": found.psi >= config.prediction_psi_threshold})


def detect_drift(
    reference: DriftReference, current: pd.DataFrame, config: MonitoringConfig
) -> DriftReport:
    """Compare a window of served data with the drift reference.

    Args:
        reference: The reference built at training (`build_drift_reference`).
        current: The window: the 19 feature columns with processed dtypes (text categories,
            SeniorCitizen and tenure as integers, charges as floats) and optionally
            ``churn_probability``; other columns are ignored.
        config: Thresholds (``drift_*``, ``psi_threshold``, ``prediction_psi_threshold``).

    Returns:
        The report. A window with fewer than ``drift_min_rows`` rows is ``insufficient_data``:
        its statistics are computed (when it has rows) but nothing is flagged.

    Raises:
        MonitoringInputError: ``current`` is not a DataFrame, lacks a feature column, or has a wrong
            dtype, missing values or probabilities outside [0, 1].
    """
    frame = require_columns(
        current, (*DRIFT_NUMERIC_FEATURES, *DRIFT_CATEGORICAL_FEATURES), "the drift window"
    )
    n_rows = len(frame)
    features: list[FeatureDrift] = []
    prediction = None
    if n_rows:
        by_name = {
            column: numeric_drift(
                column, reference.numeric[column], numeric_values(frame, column), config
            )
            for column in DRIFT_NUMERIC_FEATURES
        } | {
            column: categorical_drift(
                column, reference.categorical[column], category_counts(frame, column), config
            )
            for column in DRIFT_CATEGORICAL_FEATURES
        }
        features = [by_name[column] for column in FEATURE_COLUMNS]
        prediction = _prediction_drift(reference, frame, config)
    if n_rows < config.drift_min_rows:
        features = [f.model_copy(update={"drifted": False}) for f in features]
        if prediction is not None:
            prediction = prediction.model_copy(update={"drifted": False})
    drifted = sum(f.drifted for f in features)
    share = drifted / len(features) if features else 0.0
    dataset_drift = bool(features) and share >= config.drift_share_threshold
    prediction_drift = prediction is not None and prediction.drifted
    status: DriftStatus = (
        "insufficient_data"
        if n_rows < config.drift_min_rows
        else "drift"
        if dataset_drift or prediction_drift
        else "ok"
    )
    return DriftReport(
        status=status,
        n_rows=n_rows,
        reference_rows=reference.n_rows,
        features=features,
        drift_share=share,
        dataset_drift=dataset_drift,
        prediction=prediction,
        prediction_drift=prediction_drift,
    )


__all__ = [
    "SHARE_EPSILON",
    "DriftReport",
    "DriftStatus",
    "FeatureDrift",
    "categorical_drift",
    "detect_drift",
    "ks_statistic",
    "numeric_drift",
    "psi",
]
