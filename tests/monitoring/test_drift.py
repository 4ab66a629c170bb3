"""Drift detection on synthetic windows: injected drift is found, same-distribution data is not."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from churnguard.data.drift import DriftSpec
from churnguard.data.preprocess import coerce_types
from churnguard.data.schema import CATEGORICAL_FEATURES, FEATURE_COLUMNS, NUMERIC_FEATURES
from churnguard.data.synthetic import generate_customers
from churnguard.monitoring.config import MonitoringConfig
from churnguard.monitoring.drift import (
    DriftReport,
    detect_drift,
    ks_statistic,
    psi,
)
from churnguard.monitoring.reference import (
    PREDICTION_COLUMN,
    DriftReference,
    MonitoringInputError,
    build_drift_reference,
)

pytestmark = pytest.mark.unit

CONFIG = MonitoringConfig()
Window = Callable[..., pd.DataFrame]


def _customers(n_rows: int, seed: int, drift: DriftSpec | None = None) -> pd.DataFrame:
    return coerce_types(generate_customers(n_rows, seed=seed, drift=drift))


@pytest.fixture(scope="module")
def churn_model() -> Pipeline:
    """A small logistic churn model: the 'served model' whose probabilities are monitored."""
    train = _customers(4000, seed=100)
    encode = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL_FEATURES)),
            ("numbers", StandardScaler(), list(NUMERIC_FEATURES)),
        ]
    )
    model = make_pipeline(encode, LogisticRegression(max_iter=2000))
    model.fit(train[list(FEATURE_COLUMNS)], train["Churn"])
    return model


@pytest.fixture(scope="module")
def reference(churn_model: Pipeline) -> DriftReference:
    """Reference of 5,000 training customers and the model's probabilities on 1,500 others."""
    held_out = _customers(1500, seed=2)
    return build_drift_reference(
        _customers(5000, seed=1), churn_model.predict_proba(held_out)[:, 1]
    )


@pytest.fixture(scope="module")
def window(churn_model: Pipeline) -> Window:
    """Build a scored window: synthetic customers plus the model's churn probability."""

    def build(n_rows: int, seed: int, drift: DriftSpec | None = None) -> pd.DataFrame:
        frame = _customers(n_rows, seed, drift)
        frame[PREDICTION_COLUMN] = churn_model.predict_proba(frame)[:, 1]
        return frame

    return build


def _by_name(report: DriftReport) -> dict[str, bool]:
    return {f.feature: f.drifted for f in report.features}


@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15])
def test_a_fresh_sample_of_the_reference_distribution_is_not_flagged(
    reference: DriftReference, window: Window, seed: int
) -> None:
    report = detect_drift(reference, window(3000, seed), CONFIG)
    assert report.status == "ok"
    assert report.drifted_features == []
    assert not report.dataset_drift
    assert report.prediction is not None
    assert not report.prediction_drift
    assert [f.feature for f in report.features] == list(FEATURE_COLUMNS)


def test_fifty_small_same_distribution_windows_almost_never_flag_a_feature(
    reference: DriftReference,
) -> None:
    reports = [detect_drift(reference, _customers(400, seed), CONFIG) for seed in range(50)]
    flags = sum(len(r.drifted_features) for r in reports)
    assert not any(r.dataset_drift for r in reports)
    # alpha = 0.01 per test, and the effect-size floor removes most significant results.
    assert flags / (50 * len(FEATURE_COLUMNS)) <= 0.02


def test_a_large_window_of_the_same_distribution_does_not_flag_everything(
    reference: DriftReference, window: Window
) -> None:
    report = detect_drift(reference, window(50_000, 21), CONFIG)
    assert report.status == "ok"
    assert len(report.drifted_features) <= 1
    assert not report.prediction_drift


def test_a_tiny_shift_in_a_large_window_is_significant_but_not_drift(
    reference: DriftReference,
) -> None:
    shifted = _customers(50_000, 22, DriftSpec(numeric_shift={"MonthlyCharges": 1.02}))
    monthly = next(
        f
        for f in detect_drift(reference, shifted, CONFIG).features
        if f.feature == "MonthlyCharges"
    )
    assert monthly.p_value < CONFIG.drift_alpha
    assert monthly.effect < CONFIG.drift_min_effect
    assert monthly.psi < CONFIG.psi_threshold
    assert not monthly.drifted


@pytest.mark.parametrize(
    ("drift", "expected"),
    [
        (DriftSpec(numeric_shift={"MonthlyCharges": 1.25}), {"MonthlyCharges"}),
        (DriftSpec(numeric_shift={"tenure": 0.6}), {"tenure", "TotalCharges"}),
    ],
)
def test_a_numeric_shift_is_detected(
    reference: DriftReference, window: Window, drift: DriftSpec, expected: set[str]
) -> None:
    report = detect_drift(reference, window(2000, 31, drift), CONFIG)
    assert expected <= set(report.drifted_features)
    for feature in report.features:
        if feature.feature in expected:
            assert feature.psi >= CONFIG.psi_threshold or feature.p_value < CONFIG.drift_alpha


def test_a_category_mix_is_detected_and_moves_the_predictions(
    reference: DriftReference, window: Window
) -> None:
    mix = {"Contract": {"Month-to-month": 0.85, "One year": 0.1, "Two year": 0.05}}
    report = detect_drift(reference, window(2000, 32, DriftSpec(category_mix=mix)), CONFIG)
    contract = next(f for f in report.features if f.feature == "Contract")
    assert contract.drifted
    assert contract.effect >= CONFIG.drift_min_effect
    assert contract.current_shares[0] == pytest.approx(0.85, abs=0.03)
    assert report.dataset_drift
    assert report.prediction_drift
    assert report.status == "drift"


def test_a_drifted_churn_relation_leaves_features_and_predictions_unchanged(
    reference: DriftReference, window: Window
) -> None:
    # P(churn | features) changes, the features do not: the model's probabilities cannot move,
    # so only the delayed labels can reveal it (see test_quality).
    drift = DriftSpec(churn_logit_shift=1.5, churn_coefficient_scale=0.0)
    current = window(3000, 33, drift)
    assert current["Churn"].mean() > window(3000, 33)["Churn"].mean() + 0.1
    report = detect_drift(reference, current, CONFIG)
    assert report.status == "ok"
    assert not report.prediction_drift


def test_a_new_category_in_the_window_is_drift(reference: DriftReference) -> None:
    current = _customers(1000, 34)
    current.loc[: len(current) // 5, "PaymentMethod"] = "Crypto"
    payment = next(
        f for f in detect_drift(reference, current, CONFIG).features if f.feature == "PaymentMethod"
    )
    assert payment.drifted
    assert payment.bins[-1] == "Crypto"
    assert payment.reference_shares[-1] == 0.0


def test_too_few_rows_are_insufficient_data_and_flag_nothing(
    reference: DriftReference, window: Window
) -> None:
    drift = DriftSpec(numeric_shift={"MonthlyCharges": 1.5, "tenure": 0.3})
    report = detect_drift(reference, window(CONFIG.drift_min_rows - 1, 35, drift), CONFIG)
    assert report.status == "insufficient_data"
    assert report.drifted_features == []
    assert not report.dataset_drift
    assert not report.prediction_drift
    monthly = next(f for f in report.features if f.feature == "MonthlyCharges")
    assert monthly.psi >= CONFIG.psi_threshold  # measured, not acted upon


def test_an_empty_window_is_insufficient_data(reference: DriftReference) -> None:
    report = detect_drift(reference, _customers(10, 36).iloc[0:0], CONFIG)
    assert (report.status, report.n_rows, report.features, report.prediction) == (
        "insufficient_data",
        0,
        [],
        None,
    )


def test_the_ks_statistic_matches_scipy_on_exact_and_compressed_cdfs() -> None:
    reference_frame, current = _customers(3000, 41), _customers(2000, 42)
    built = build_drift_reference(reference_frame, None, ecdf_points=64)
    for column, tolerance in (("tenure", 1e-12), ("MonthlyCharges", 1.5 / 64)):
        expected = stats.ks_2samp(reference_frame[column], current[column])
        values = np.sort(current[column].to_numpy(dtype=np.float64))
        assert ks_statistic(built.numeric[column], values) == pytest.approx(
            expected.statistic, abs=tolerance
        )
    exact = stats.ks_2samp(reference_frame["tenure"], current["tenure"], method="asymp")
    tenure = next(f for f in detect_drift(built, current, CONFIG).features if f.feature == "tenure")
    assert tenure.p_value == pytest.approx(exact.pvalue, rel=1e-6)


def test_the_chi_square_uses_the_effective_sample_size(reference: DriftReference) -> None:
    current = _customers(2500, 43)
    contract = next(
        f for f in detect_drift(reference, current, CONFIG).features if f.feature == "Contract"
    )
    counts = current["Contract"].value_counts().reindex(contract.bins).to_numpy()
    expected = np.asarray(contract.reference_shares) * len(current)
    goodness_of_fit = stats.chisquare(counts, expected)
    n_ref = reference.categorical["Contract"].count
    effective = n_ref * len(current) / (n_ref + len(current))
    assert contract.statistic == pytest.approx(goodness_of_fit.statistic * effective / len(current))
    assert contract.effect == pytest.approx(np.sqrt(goodness_of_fit.statistic / len(current)))
    assert contract.p_value == pytest.approx(stats.chi2.sf(contract.statistic, 2))


def test_psi_is_zero_for_equal_shares_and_grows_with_the_difference() -> None:
    even = np.array([0.25, 0.25, 0.25, 0.25])
    assert psi(even, even) == 0.0
    small, large = np.array([0.3, 0.2, 0.25, 0.25]), np.array([0.7, 0.1, 0.1, 0.1])
    assert 0 < psi(even, small) < psi(even, large)
    expected = sum((c - r) * np.log(c / r) for r, c in zip(even, large, strict=True))
    assert psi(even, large) == pytest.approx(expected)
    assert np.isfinite(psi(np.array([1.0, 0.0]), np.array([0.5, 0.5])))


def test_the_report_round_trips_through_json(reference: DriftReference, window: Window) -> None:
    report = detect_drift(reference, window(500, 44), CONFIG)
    assert DriftReport.model_validate_json(report.model_dump_json()) == report
    for feature in report.features:
        assert len(feature.bins) == len(feature.reference_shares) == len(feature.current_shares)
        assert sum(feature.current_shares) == pytest.approx(1.0)


def _set(column: str, value: object, row: int | None = None) -> Callable[[pd.DataFrame], None]:
    def change(frame: pd.DataFrame) -> None:
        if row is None:
            frame[column] = value
        else:
            frame.loc[row, column] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.pop("Contract"), r"lacks the column\(s\) \['Contract'\]"),
        (lambda f: f.__setitem__("tenure", f["tenure"].astype(str)), "'tenure' must be numeric"),
        (_set("gender", 1), "'gender' must hold text"),
        (_set("SeniorCitizen", "0"), "'SeniorCitizen' must hold integer"),
        (_set("MonthlyCharges", np.nan, row=3), "'MonthlyCharges' has 1 missing"),
        (_set("Contract", None, row=4), "'Contract' has 1 missing"),
        (_set(PREDICTION_COLUMN, 1.5, row=5), r"outside \[0, 1\]"),
        (_set(PREDICTION_COLUMN, "high"), "'churn_probability' must hold numbers"),
    ],
    ids=[
        "missing-column",
        "text-tenure",
        "numeric-category",
        "text-senior",
        "nan-number",
        "missing-category",
        "probability-above-1",
        "text-probability",
    ],
)
def test_bad_windows_are_clear_errors(
    reference: DriftReference, change: Callable[[pd.DataFrame], object], message: str
) -> None:
    frame = _customers(300, 50)
    frame[PREDICTION_COLUMN] = 0.3
    change(frame)
    with pytest.raises(MonitoringInputError, match=message):
        detect_drift(reference, frame, CONFIG)


@pytest.mark.parametrize(
    ("current", "message"),
    [(pd.DataFrame(), "lacks the column"), ([{"tenure": 3}], "must be a pandas DataFrame")],
    ids=["empty-frame-without-columns", "not-a-frame"],
)
def test_a_window_that_is_not_a_feature_frame_is_a_clear_error(
    reference: DriftReference, current: object, message: str
) -> None:
    with pytest.raises(MonitoringInputError, match=message):
        detect_drift(reference, current, CONFIG)  # type: ignore[arg-type]
