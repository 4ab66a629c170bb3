"""Tests of TelcoFeatureEngineer: engineered values, input checks and the estimator contract."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import check_estimator

from churnguard.data.schema import FEATURE_COLUMNS, ID_COLUMN, TARGET_COLUMN
from churnguard.errors import DataValidationError
from churnguard.features import (
    ENGINEERED_FEATURES,
    FeatureInputError,
    TelcoFeatureEngineer,
    tenure_bucket_labels,
)

pytestmark = pytest.mark.unit

_NEEDS_TELCO_COLUMNS = (
    "generates anonymous numeric arrays; the transformer needs the named Telco feature columns "
    "(covered on Telco frames by the tests below)"
)
#: Checks that feed generated arrays, which cannot hold the named Telco columns.
_INAPPLICABLE_CHECKS = dict.fromkeys(
    (
        "check_fit_score_takes_y",
        "check_estimators_overwrite_params",
        "check_dont_overwrite_parameters",
        "check_estimators_fit_returns_self",
        "check_readonly_memmap_input",
        "check_n_features_in_after_fitting",
        "check_positive_only_tag_during_fit",
        "check_estimators_dtypes",
        "check_complex_data",
        "check_dtype_object",
        "check_estimators_empty_data_messages",
        "check_pipeline_consistency",
        "check_estimator_sparse_tag",
        "check_estimator_sparse_array",
        "check_estimator_sparse_matrix",
        "check_estimators_pickle",
        "check_f_contiguous_array_estimator",
        "check_transformer_data_not_an_array",
        "check_transformer_general",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_fit2d_1sample",
        "check_fit2d_1feature",
        "check_dict_unchanged",
        "check_fit_idempotent",
        "check_fit_check_is_fitted",
        "check_n_features_in",
        "check_fit1d",
        "check_fit2d_predict1d",
    ),
    _NEEDS_TELCO_COLUMNS,
)


#: Checks run and required to pass: the estimator contract that needs no data.
_REQUIRED_CHECKS = {
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_estimators_unfitted",
    "check_transformers_unfitted",
    "check_mixin_order",
}


def test_engineer_passes_the_applicable_sklearn_estimator_checks():
    results = check_estimator(
        TelcoFeatureEngineer(),
        expected_failed_checks=_INAPPLICABLE_CHECKS,
        on_fail=None,
        on_skip=None,
    )

    failed = [(r["check_name"], r["exception"]) for r in results if r["status"] == "failed"]
    passed = {r["check_name"] for r in results if r["status"] == "passed"}
    assert failed == []
    assert passed >= _REQUIRED_CHECKS
    # An inapplicable check that starts passing should move out of the list.
    assert passed.isdisjoint(_INAPPLICABLE_CHECKS)


def test_engineer_computes_expected_values_on_three_customers(three_customers):
    out = TelcoFeatureEngineer().fit_transform(three_customers)

    assert out["tenure_bucket"].tolist() == ["0-6", "6-12", "72+"]
    assert out["n_services"].tolist() == [7, 3, 1]
    np.testing.assert_allclose(out["charges_ratio"], [1.0, 720.0 / 700.0, 1500.0 / 1600.0])
    np.testing.assert_allclose(out["avg_monthly_spend"], [0.0, 720.0 / 7, 1500.0 / 80])
    assert out["is_month_to_month"].tolist() == [1, 0, 0]
    assert out["has_fiber"].tolist() == [0, 1, 0]
    assert out["pays_electronic_check"].tolist() == [1, 0, 0]
    assert out["has_auto_payment"].tolist() == [0, 1, 0]
    assert out["fiber_without_tech_support"].tolist() == [0, 1, 0]


def test_engineer_keeps_feature_columns_and_drops_id_and_target(three_customers):
    out = TelcoFeatureEngineer().fit_transform(three_customers)

    assert list(out.columns) == [*FEATURE_COLUMNS, *ENGINEERED_FEATURES]
    pd.testing.assert_frame_equal(
        out[list(FEATURE_COLUMNS)], three_customers[list(FEATURE_COLUMNS)]
    )
    assert ID_COLUMN not in out.columns
    assert TARGET_COLUMN not in out.columns


def test_engineer_output_dtypes_are_str_bucket_and_numeric_features(three_customers):
    out = TelcoFeatureEngineer().fit_transform(three_customers)

    assert out["tenure_bucket"].dtype == "str"
    assert out["n_services"].dtype == np.int64
    assert out["charges_ratio"].dtype == np.float64
    assert out["has_fiber"].dtype == np.int64


@pytest.mark.parametrize(
    ("tenure", "bucket"),
    [(0, "0-6"), (6, "0-6"), (7, "6-12"), (12, "6-12"), (48, "24-48"), (72, "48-72"), (73, "72+")],
)
def test_tenure_bucket_is_closed_on_the_right_with_an_open_last_bucket(
    three_customers, tenure, bucket
):
    frame = three_customers.assign(tenure=tenure)

    out = TelcoFeatureEngineer().fit_transform(frame)

    assert out["tenure_bucket"].tolist() == [bucket] * 3


def test_engineer_uses_custom_tenure_bins(three_customers):
    engineer = TelcoFeatureEngineer(tenure_bins=(0, 12, 60))

    out = engineer.fit_transform(three_customers)

    assert engineer.tenure_bucket_labels_ == ("0-12", "12-60", "60+")
    assert out["tenure_bucket"].tolist() == ["0-12", "0-12", "60+"]


def test_tenure_bucket_labels_name_every_bucket_including_the_open_one():
    assert tenure_bucket_labels((0, 6, 12, 24, 48, 72)) == (
        "0-6",
        "6-12",
        "12-24",
        "24-48",
        "48-72",
        "72+",
    )


def test_engineer_transforms_a_single_row_without_id_or_target(three_customers):
    engineer = TelcoFeatureEngineer().fit(three_customers)
    single = three_customers.loc[[1], list(FEATURE_COLUMNS)]

    out = engineer.transform(single)

    assert out.index.tolist() == [1]
    assert out["tenure_bucket"].tolist() == ["6-12"]
    assert out["charges_ratio"].iloc[0] == pytest.approx(720.0 / 700.0)


def test_engineer_rejects_a_frame_missing_feature_columns(three_customers):
    incomplete = three_customers.drop(columns=["tenure", "Contract"])

    with pytest.raises(ValueError, match=r"missing required feature column\(s\): tenure, Contract"):
        TelcoFeatureEngineer().fit(incomplete)


def test_missing_column_error_at_transform_is_a_data_validation_error(three_customers):
    engineer = TelcoFeatureEngineer().fit(three_customers)

    with pytest.raises(DataValidationError, match="PaymentMethod"):
        engineer.transform(three_customers.drop(columns=["PaymentMethod"]))


def test_engineer_rejects_non_numeric_charges(three_customers):
    raw_total = three_customers.assign(TotalCharges=["", "720.0", "1500.0"])

    with pytest.raises(FeatureInputError, match="'TotalCharges' must be numeric"):
        TelcoFeatureEngineer().fit_transform(raw_total)


def test_engineer_rejects_arrays_without_column_names(three_customers):
    with pytest.raises(TypeError, match="expected a pandas DataFrame"):
        TelcoFeatureEngineer().fit(three_customers.to_numpy())


def test_engineer_rejects_invalid_tenure_bins_at_fit(three_customers):
    with pytest.raises(ValueError, match="strictly increasing"):
        TelcoFeatureEngineer(tenure_bins=(0, 12, 6)).fit(three_customers)


def test_engineer_propagates_missing_tenure_instead_of_guessing_a_bucket(three_customers):
    frame = three_customers.astype({"tenure": "float64"})
    frame.loc[1, "tenure"] = np.nan

    out = TelcoFeatureEngineer().fit_transform(frame)

    assert out["tenure_bucket"].isna().tolist() == [False, True, False]
    assert np.isnan(out.loc[1, "charges_ratio"])


def test_feature_names_out_match_transformed_columns(processed_frame):
    engineer = TelcoFeatureEngineer().fit(processed_frame)

    out = engineer.transform(processed_frame)

    assert engineer.get_feature_names_out().tolist() == list(out.columns)
    assert engineer.get_feature_names_out(list(FEATURE_COLUMNS)).tolist() == list(out.columns)


def test_feature_names_out_rejects_foreign_input_features(processed_frame):
    engineer = TelcoFeatureEngineer().fit(processed_frame)

    with pytest.raises(ValueError, match="input_features must equal"):
        engineer.get_feature_names_out(["a", "b"])


def test_engineer_set_output_pandas_keeps_names_and_index(processed_frame):
    engineer = TelcoFeatureEngineer().set_output(transform="pandas").fit(processed_frame)

    out = engineer.transform(processed_frame)

    assert list(out.columns) == engineer.get_feature_names_out().tolist()
    assert out.index.equals(processed_frame.index)


# Telco-data counterparts of the generic estimator checks that cannot run on anonymous arrays.


def test_engineer_fit_returns_self_and_records_inputs(processed_frame):
    engineer = TelcoFeatureEngineer()

    assert engineer.fit(processed_frame) is engineer
    assert engineer.n_features_in_ == len(FEATURE_COLUMNS)
    assert engineer.feature_names_in_.tolist() == list(FEATURE_COLUMNS)


def test_engineer_refuses_to_transform_before_fit(processed_frame):
    with pytest.raises(NotFittedError):
        TelcoFeatureEngineer().transform(processed_frame)


def test_engineer_does_not_modify_its_input_or_parameters(processed_frame):
    before = processed_frame.copy()
    bins = (0, 12, 24)
    engineer = TelcoFeatureEngineer(tenure_bins=bins)

    engineer.fit_transform(processed_frame)

    pd.testing.assert_frame_equal(processed_frame, before)
    assert engineer.get_params() == {"tenure_bins": bins}


def test_engineer_rows_do_not_depend_on_their_batch(processed_frame):
    engineer = TelcoFeatureEngineer().fit(processed_frame)
    full = engineer.transform(processed_frame)

    shuffled = engineer.transform(processed_frame.sample(frac=1.0, random_state=0))
    subset = engineer.transform(processed_frame.iloc[10:20])

    pd.testing.assert_frame_equal(shuffled.loc[full.index], full)
    pd.testing.assert_frame_equal(subset, full.iloc[10:20])


def test_engineer_survives_clone_and_pickle(processed_frame):
    fitted = TelcoFeatureEngineer(tenure_bins=(0, 24)).fit(processed_frame)

    restored = pickle.loads(pickle.dumps(fitted))  # noqa: S301 - our own object
    cloned = clone(fitted)

    pd.testing.assert_frame_equal(
        restored.transform(processed_frame), fitted.transform(processed_frame)
    )
    assert cloned.get_params() == {"tenure_bins": (0, 24)}
    assert not hasattr(cloned, "tenure_bins_")


def test_handmade_fallback_customers_follow_the_raw_contract(handmade_raw_customers):
    raw = handmade_raw_customers(50, 3)

    out = TelcoFeatureEngineer().fit_transform(raw.assign(TotalCharges=0.0))

    assert raw["TotalCharges"].where(raw["tenure"] == 0).dropna().eq(" ").all()
    assert len(out) == 50


def test_engineer_refit_and_transform_leave_fitted_state_unchanged(
    processed_frame, three_customers
):
    engineer = TelcoFeatureEngineer().fit(processed_frame)
    state = {k: v for k, v in vars(engineer).items() if k.endswith("_")}

    engineer.transform(three_customers)
    engineer.fit(three_customers)

    assert vars(engineer).keys() == {"tenure_bins", *state}
    assert engineer.tenure_bucket_labels_ == state["tenure_bucket_labels_"]
    assert engineer.feature_names_in_.tolist() == state["feature_names_in_"].tolist()
