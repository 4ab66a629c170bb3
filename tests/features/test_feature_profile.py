"""Tests of the reference profile of the training features."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from churnguard.data.schema import (
    CATEGORICAL_FEATURES,
    CATEGORIES,
    FEATURE_COLUMNS,
    NUMERIC_FEATURES,
    TARGET_COLUMN,
)
from churnguard.features import (
    ENGINEERED_CATEGORICAL_FEATURES,
    ENGINEERED_FEATURES,
    ENGINEERED_NUMERIC_FEATURES,
    FeatureConfig,
    FeatureInputError,
    ReferenceProfile,
    TelcoFeatureEngineer,
    build_reference_profile,
)

pytestmark = pytest.mark.unit

_CREATED_AT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def profile(processed_frame, feature_config) -> ReferenceProfile:
    return build_reference_profile(processed_frame, feature_config, created_at=_CREATED_AT)


def test_profile_covers_raw_and_engineered_features(profile, processed_frame):
    assert profile.features == [*FEATURE_COLUMNS, *ENGINEERED_FEATURES]
    assert set(profile.numeric) == {*NUMERIC_FEATURES, *ENGINEERED_NUMERIC_FEATURES}
    assert set(profile.categorical) == {*CATEGORICAL_FEATURES, *ENGINEERED_CATEGORICAL_FEATURES}
    assert profile.n_rows == len(processed_frame)
    assert profile.created_at == _CREATED_AT


def test_profile_records_the_target_rate(profile, processed_frame):
    assert profile.target_rate == pytest.approx(processed_frame[TARGET_COLUMN].mean())


def test_profile_without_target_has_no_target_rate(processed_frame, feature_config):
    profile = build_reference_profile(processed_frame.drop(columns=TARGET_COLUMN), feature_config)

    assert profile.target_rate is None
    assert profile.created_at.tzinfo is not None


def test_numeric_profile_matches_numpy_statistics(profile, processed_frame):
    monthly = processed_frame["MonthlyCharges"].to_numpy()
    stats = profile.numeric["MonthlyCharges"]

    assert stats.count == len(monthly)
    assert stats.missing_share == 0.0
    assert stats.mean == pytest.approx(monthly.mean())
    assert stats.std == pytest.approx(monthly.std())
    assert (stats.min, stats.max) == (monthly.min(), monthly.max())
    assert stats.quantiles is not None
    assert stats.quantiles.p50 == pytest.approx(np.median(monthly))
    assert stats.quantiles.p05 == pytest.approx(np.quantile(monthly, 0.05))
    assert stats.quantiles.p01 <= stats.quantiles.p25 <= stats.quantiles.p75 <= stats.quantiles.p99


@pytest.mark.parametrize("column", [*NUMERIC_FEATURES, *ENGINEERED_NUMERIC_FEATURES])
def test_numeric_histogram_spans_the_observed_range_and_counts_every_row(
    profile, processed_frame, column
):
    stats = profile.numeric[column]

    assert stats.histogram is not None
    assert sum(stats.histogram.counts) == len(processed_frame)
    assert len(stats.histogram.counts) == 10
    assert len(stats.histogram.edges) == 11
    if stats.min != stats.max:
        assert (stats.histogram.edges[0], stats.histogram.edges[-1]) == (stats.min, stats.max)


@pytest.mark.parametrize("column", [*CATEGORICAL_FEATURES, *ENGINEERED_CATEGORICAL_FEATURES])
def test_categorical_shares_sum_to_one_and_counts_to_n(profile, processed_frame, column):
    stats = profile.categorical[column]

    assert sum(stats.value_counts.values()) == stats.count == len(processed_frame)
    assert sum(stats.value_shares.values()) == pytest.approx(1.0)
    assert stats.missing_share == 0.0


def test_categorical_profile_lists_expected_values_with_zero_counts(
    processed_frame, feature_config
):
    one_contract = processed_frame.assign(Contract="Two year")

    profile = build_reference_profile(one_contract, feature_config)

    contract = profile.categorical["Contract"]
    assert list(contract.value_counts) == list(CATEGORIES["Contract"])
    assert contract.value_counts == {"Month-to-month": 0, "One year": 0, "Two year": 400}
    assert contract.value_shares["Month-to-month"] == 0.0
    bucket = profile.categorical["tenure_bucket"]
    assert list(bucket.value_counts) == ["0-6", "6-12", "12-24", "24-48", "48-72", "72+"]


def test_profile_of_three_customers_has_exact_values(three_customers, feature_config):
    profile = build_reference_profile(three_customers, feature_config)

    assert profile.numeric["tenure"].mean == pytest.approx(29.0)
    assert profile.numeric["n_services"].max == 7.0
    assert profile.numeric["has_fiber"].mean == pytest.approx(1 / 3)
    assert profile.categorical["tenure_bucket"].value_counts["72+"] == 1
    assert profile.categorical["gender"].value_shares == pytest.approx(
        {"Female": 1 / 3, "Male": 2 / 3}
    )
    assert profile.target_rate == pytest.approx(1 / 3)


def test_profile_counts_missing_values_and_unexpected_categories(three_customers, feature_config):
    frame = three_customers.astype({"tenure": "float64", "PaymentMethod": "object"})
    frame.loc[0, "tenure"] = np.nan
    frame.loc[1, "PaymentMethod"] = None
    frame.loc[2, "PaymentMethod"] = "Bitcoin"

    profile = build_reference_profile(frame, feature_config)

    assert profile.numeric["tenure"].count == 2
    assert profile.numeric["tenure"].missing_share == pytest.approx(1 / 3)
    assert sum(profile.numeric["tenure"].histogram.counts) == 2
    payment = profile.categorical["PaymentMethod"]
    assert payment.missing_share == pytest.approx(1 / 3)
    assert payment.value_counts["Bitcoin"] == 1
    assert list(payment.value_counts)[-1] == "Bitcoin"
    assert profile.categorical["tenure_bucket"].missing_share == pytest.approx(1 / 3)


def test_profile_of_an_all_missing_column_has_no_statistics(three_customers, feature_config):
    frame = three_customers.assign(MonthlyCharges=np.nan)

    stats = build_reference_profile(frame, feature_config).numeric["MonthlyCharges"]

    assert stats.count == 0
    assert stats.missing_share == 1.0
    assert stats.mean is None
    assert stats.histogram is None


def test_profile_uses_the_configured_number_of_bins(processed_frame):
    profile = build_reference_profile(processed_frame, FeatureConfig(profile_bins=4))

    assert len(profile.numeric["TotalCharges"].histogram.counts) == 4
    assert profile.config.profile_bins == 4


def test_profile_round_trips_through_json(profile):
    restored = ReferenceProfile.model_validate_json(profile.model_dump_json())

    assert restored == profile
    assert '"created_at":"2025-01-02T03:04:05Z"' in profile.model_dump_json()


def test_profile_engineered_statistics_match_the_transformer(profile, processed_frame):
    engineered = TelcoFeatureEngineer().fit_transform(processed_frame)

    assert profile.numeric["charges_ratio"].mean == pytest.approx(
        engineered["charges_ratio"].mean()
    )
    assert profile.categorical["tenure_bucket"].value_counts == {
        label: int((engineered["tenure_bucket"] == label).sum())
        for label in ("0-6", "6-12", "12-24", "24-48", "48-72", "72+")
    }


def test_profile_rejects_an_empty_frame(processed_frame, feature_config):
    with pytest.raises(FeatureInputError, match="empty frame"):
        build_reference_profile(processed_frame.iloc[:0], feature_config)


def test_profile_rejects_a_target_that_is_not_zero_or_one(processed_frame, feature_config):
    raw_target = processed_frame.assign(
        Churn=processed_frame[TARGET_COLUMN].map({0: "No", 1: "Yes"})
    )

    with pytest.raises(ValueError, match="'Churn' must hold 0/1"):
        build_reference_profile(raw_target, feature_config)


def test_profile_rejects_a_frame_missing_feature_columns(processed_frame, feature_config):
    with pytest.raises(ValueError, match="MonthlyCharges"):
        build_reference_profile(processed_frame.drop(columns="MonthlyCharges"), feature_config)
