"""Tests of the synthetic customer generator: contract, realism, drift and the real-data match."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from churnguard.data.schema import (
    CATEGORICAL_FEATURES,
    CATEGORIES,
    INTERNET_ADDONS,
    NO_INTERNET,
    NO_PHONE,
    RAW_COLUMNS,
)
from churnguard.data.synthetic import DriftSpec, generate_customers

ROWS = 20_000
TEXT_DTYPE = pd.Series(["text"]).dtype  # what pd.read_csv gives text columns under pandas 3
ONE_SIDED_CONTRACT_MIX = {"Month-to-month": 0.8, "One year": 0.1, "Two year": 0.1}


def churn_rate(frame: pd.DataFrame) -> float:
    return float(frame["Churn"].eq("Yes").mean())


def churn_rate_by(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame["Churn"].eq("Yes").groupby(frame[column]).mean()


def total_charges(frame: pd.DataFrame) -> pd.Series:
    return pd.to_numeric(frame["TotalCharges"], errors="coerce")


def fit_churn_model(frame: pd.DataFrame) -> Pipeline:
    encode = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL_FEATURES)),
            ("numbers", StandardScaler(), ["SeniorCitizen", "tenure", "MonthlyCharges"]),
        ]
    )
    model = make_pipeline(encode, LogisticRegression(max_iter=2_000))
    return model.fit(frame, frame["Churn"].eq("Yes"))


def auc(model: Pipeline, frame: pd.DataFrame) -> float:
    return float(roc_auc_score(frame["Churn"].eq("Yes"), model.predict_proba(frame)[:, 1]))


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    return generate_customers(ROWS, seed=1)


@pytest.fixture(scope="module")
def reference_model() -> Pipeline:
    return fit_churn_model(generate_customers(5_000, seed=11))


@pytest.mark.unit
def test_frame_has_the_raw_columns_in_order_with_the_raw_file_dtypes(
    customers: pd.DataFrame,
) -> None:
    numeric = {"SeniorCitizen": "int64", "tenure": "int64", "MonthlyCharges": "float64"}
    expected = {column: numeric.get(column, TEXT_DTYPE) for column in RAW_COLUMNS}
    assert list(customers.columns) == list(RAW_COLUMNS)
    assert customers.dtypes.to_dict() == expected
    assert isinstance(customers.index, pd.RangeIndex)
    assert len(customers) == ROWS


@pytest.mark.unit
def test_same_seed_gives_identical_frames() -> None:
    pd.testing.assert_frame_equal(generate_customers(500, seed=3), generate_customers(500, seed=3))


@pytest.mark.unit
def test_different_seeds_give_different_customers() -> None:
    first, second = generate_customers(500, seed=3), generate_customers(500, seed=4)
    assert not set(first["customerID"]) & set(second["customerID"])
    assert (first["tenure"] != second["tenure"]).mean() > 0.5


@pytest.mark.unit
@pytest.mark.parametrize("n_rows", [1, 2, ROWS])
def test_customer_ids_are_unique_and_in_the_raw_format(n_rows: int) -> None:
    ids = generate_customers(n_rows, seed=5)["customerID"]
    assert ids.is_unique
    assert ids.str.fullmatch(r"\d{4}-[A-Z]{5}").all()


@pytest.mark.unit
def test_category_values_are_the_allowed_ones(customers: pd.DataFrame) -> None:
    for column, values in CATEGORIES.items():
        assert set(customers[column]) <= set(values), column
    assert set(customers["Churn"]) == {"No", "Yes"}


@pytest.mark.unit
@pytest.mark.parametrize("addon", INTERNET_ADDONS)
def test_no_internet_service_appears_exactly_for_customers_without_internet(
    customers: pd.DataFrame, addon: str
) -> None:
    without_internet = customers["InternetService"].eq("No")
    assert without_internet.any()
    assert customers[addon].eq(NO_INTERNET).equals(without_internet)


@pytest.mark.unit
def test_no_phone_service_appears_exactly_for_customers_without_phone(
    customers: pd.DataFrame,
) -> None:
    without_phone = customers["PhoneService"].eq("No")
    assert without_phone.any()
    assert customers["MultipleLines"].eq(NO_PHONE).equals(without_phone)


@pytest.mark.unit
def test_total_charges_is_blank_exactly_for_new_customers(customers: pd.DataFrame) -> None:
    is_new = customers["tenure"].eq(0)
    assert 0 < is_new.mean() < 0.01  # rare, like the 11 of 7,043 in the real data
    assert customers["TotalCharges"].eq(" ").equals(is_new)
    assert customers.loc[is_new, "Churn"].eq("No").all()


@pytest.mark.unit
def test_total_charges_is_numeric_text_when_blanks_are_disabled(customers: pd.DataFrame) -> None:
    unblanked = generate_customers(ROWS, seed=1, blank_total_charges=False)
    is_new = unblanked["tenure"].eq(0)
    assert unblanked["TotalCharges"].str.fullmatch(r"\d+(\.\d{1,2})?").all()
    assert unblanked.loc[is_new, "TotalCharges"].eq("0").all()
    same = unblanked.drop(columns="TotalCharges")
    pd.testing.assert_frame_equal(same, customers.drop(columns="TotalCharges"))


@pytest.mark.unit
def test_total_charges_text_is_the_shortest_decimal_like_the_raw_file(
    customers: pd.DataFrame,
) -> None:
    text = customers.loc[customers["tenure"] > 0, "TotalCharges"]
    assert not text.str.contains(r"\.(?:\d?0)?$").any()  # "1889.5", "2962", never "1889.50"
    assert text.str.contains(".", regex=False).any()
    assert (
        text.astype("float64").map("{:.2f}".format).str.rstrip("0").str.rstrip(".") == text
    ).all()


@pytest.mark.unit
def test_numeric_columns_stay_in_the_observed_ranges(customers: pd.DataFrame) -> None:
    monthly = customers["MonthlyCharges"]
    assert set(customers["SeniorCitizen"]) == {0, 1}
    assert (customers["tenure"].min(), customers["tenure"].max()) == (0, 72)
    assert monthly.between(18.25, 118.75).all()
    assert np.allclose(monthly, monthly.round(2), rtol=0, atol=1e-9)
    assert total_charges(customers).dropna().between(0, 60_000).all()


@pytest.mark.unit
def test_total_charges_is_about_tenure_times_monthly_charges(customers: pd.DataFrame) -> None:
    billed = customers[customers["tenure"] > 0]
    ratio = total_charges(billed) / (billed["tenure"] * billed["MonthlyCharges"])
    assert ratio.between(0.86, 1.16).mean() > 0.95
    assert ratio.median() == pytest.approx(1.0, abs=0.01)
    first_month = billed["tenure"].eq(1)
    assert (total_charges(billed[first_month]) == billed.loc[first_month, "MonthlyCharges"]).all()


@pytest.mark.unit
def test_churn_rate_is_close_to_the_real_rate(customers: pd.DataFrame) -> None:
    assert churn_rate(customers) == pytest.approx(0.265, abs=0.03)


@pytest.mark.unit
def test_month_to_month_customers_churn_more_than_two_year_customers(
    customers: pd.DataFrame,
) -> None:
    by_contract = churn_rate_by(customers, "Contract")
    assert by_contract["Month-to-month"] > by_contract["One year"] > by_contract["Two year"]


@pytest.mark.unit
def test_fibre_customers_churn_more_than_dsl_customers(customers: pd.DataFrame) -> None:
    by_internet = churn_rate_by(customers, "InternetService")
    assert by_internet["Fiber optic"] > by_internet["DSL"] + 0.1


@pytest.mark.unit
def test_churners_have_a_lower_median_tenure(customers: pd.DataFrame) -> None:
    tenure = customers.groupby("Churn")["tenure"].median()
    assert tenure["Yes"] < tenure["No"] - 10


@pytest.mark.unit
def test_a_model_trained_on_one_seed_ranks_churners_of_another_seed(
    reference_model: Pipeline,
) -> None:
    assert auc(reference_model, generate_customers(5_000, seed=12)) > 0.75


@pytest.mark.unit
def test_monthly_charges_shift_scales_monthly_charges_by_the_factor(
    customers: pd.DataFrame,
) -> None:
    drifted = generate_customers(
        ROWS, seed=1, drift=DriftSpec(numeric_shift={"MonthlyCharges": 1.2})
    )
    ratio = drifted["MonthlyCharges"].mean() / customers["MonthlyCharges"].mean()
    assert ratio == pytest.approx(1.2, abs=0.01)
    assert drifted["MonthlyCharges"].max() > 118.75
    billed = drifted[drifted["tenure"] > 0]
    charge_ratio = total_charges(billed) / (billed["tenure"] * billed["MonthlyCharges"])
    assert charge_ratio.median() == pytest.approx(1.0, abs=0.01)


@pytest.mark.unit
@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_tenure_shift_scales_tenure_and_keeps_it_whole_months_in_range(
    customers: pd.DataFrame, factor: float
) -> None:
    drifted = generate_customers(ROWS, seed=1, drift=DriftSpec(numeric_shift={"tenure": factor}))
    assert drifted["tenure"].dtype == "int64"
    assert drifted["tenure"].between(0, 120).all()
    expected = (customers["tenure"] * factor).round().clip(0, 120).mean()
    assert drifted["tenure"].mean() == pytest.approx(expected, rel=0.05)
    assert drifted["TotalCharges"].eq(" ").equals(drifted["tenure"].eq(0))


@pytest.mark.unit
def test_contract_mix_hits_its_target_shares_and_flows_into_tenure_and_churn(
    customers: pd.DataFrame,
) -> None:
    drift = DriftSpec(category_mix={"Contract": ONE_SIDED_CONTRACT_MIX})
    drifted = generate_customers(ROWS, seed=1, drift=drift)
    shares = drifted["Contract"].value_counts(normalize=True)
    for value, share in ONE_SIDED_CONTRACT_MIX.items():
        assert shares[value] == pytest.approx(share, abs=0.02)
    assert drifted["tenure"].mean() < customers["tenure"].mean() - 3
    assert churn_rate(drifted) > churn_rate(customers) + 0.05


@pytest.mark.unit
def test_category_mix_leaves_columns_it_does_not_reach_unchanged(customers: pd.DataFrame) -> None:
    drift = DriftSpec(category_mix={"Contract": ONE_SIDED_CONTRACT_MIX})
    drifted = generate_customers(ROWS, seed=1, drift=drift)
    upstream = ["customerID", "gender", "SeniorCitizen", "Partner", "Dependents", "PhoneService"]
    pd.testing.assert_frame_equal(drifted[upstream], customers[upstream])


@pytest.mark.unit
def test_add_on_mix_applies_to_internet_customers_and_keeps_the_no_internet_rule() -> None:
    drift = DriftSpec(category_mix={"OnlineSecurity": {"No": 0.2, "Yes": 0.8}})
    drifted = generate_customers(ROWS, seed=1, drift=drift)
    with_internet = drifted["InternetService"].ne("No")
    assert drifted.loc[with_internet, "OnlineSecurity"].eq("Yes").mean() == pytest.approx(
        0.8, abs=0.02
    )
    assert drifted["OnlineSecurity"].eq(NO_INTERNET).equals(~with_internet)


@pytest.mark.unit
def test_churn_logit_shift_raises_the_churn_rate(customers: pd.DataFrame) -> None:
    drifted = generate_customers(ROWS, seed=1, drift=DriftSpec(churn_logit_shift=1.0))
    assert churn_rate(drifted) > churn_rate(customers) + 0.1
    pd.testing.assert_frame_equal(drifted.drop(columns="Churn"), customers.drop(columns="Churn"))


@pytest.mark.unit
def test_zero_coefficient_scale_makes_churn_unpredictable_at_the_same_rate(
    reference_model: Pipeline,
) -> None:
    drifted = generate_customers(5_000, seed=12, drift=DriftSpec(churn_coefficient_scale=0.0))
    assert auc(reference_model, drifted) < 0.6
    assert churn_rate(drifted) == pytest.approx(0.265, abs=0.03)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"numeric_shift": {"TotalCharges": 1.1}}, r"unknown column 'TotalCharges'.*'tenure'"),
        ({"numeric_shift": {"tenure": 0.0}}, r"numeric_shift\['tenure'\] must be a positive"),
        ({"numeric_shift": {"MonthlyCharges": -1.0}}, r"\['MonthlyCharges'\] must be a positive"),
        ({"category_mix": {"Churn": {"Yes": 1.0}}}, r"unknown column 'Churn'.*'Contract'"),
        ({"category_mix": {"Contract": {"Monthly": 1.0}}}, r"'Monthly' is unknown.*'One year'"),
        (
            {"category_mix": {"Contract": {"Month-to-month": 0.5, "One year": 0.4}}},
            r"\['Contract'\] probabilities sum to 0.9, not 1",
        ),
        (
            {"category_mix": {"Contract": {"Month-to-month": 1.2, "One year": -0.2}}},
            r"\['Contract'\]\['One year'\] must be a probability >= 0",
        ),
        (
            {"category_mix": {"TechSupport": {"Yes": 0.5, NO_INTERNET: 0.5}}},
            r"'No internet service' is set by a rule on another column.*'No', 'Yes'",
        ),
        ({"churn_coefficient_scale": -1.0}, r"churn_coefficient_scale must be .* >= 0"),
        ({"churn_logit_shift": float("nan")}, r"churn_logit_shift must be finite"),
    ],
)
def test_invalid_drift_spec_is_rejected_with_a_message_naming_the_problem(
    arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        DriftSpec(**arguments)


@pytest.mark.unit
def test_drift_spec_is_not_changed_by_later_edits_of_the_callers_dict() -> None:
    mix = {"Contract": dict(ONE_SIDED_CONTRACT_MIX)}
    drift = DriftSpec(category_mix=mix)
    mix["Contract"]["Month-to-month"] = 5.0
    assert drift.category_mix["Contract"]["Month-to-month"] == 0.8


@pytest.mark.unit
def test_drift_spec_survives_pickling_for_worker_processes() -> None:
    drift = DriftSpec(
        numeric_shift={"tenure": 0.5}, category_mix={"Contract": ONE_SIDED_CONTRACT_MIX}
    )
    assert pickle.loads(pickle.dumps(drift)) == drift  # noqa: S301 (our own bytes)


@pytest.mark.unit
@pytest.mark.parametrize("n_rows", [0, -5])
def test_too_few_rows_are_rejected(n_rows: int) -> None:
    with pytest.raises(ValueError, match=rf"n_rows must be between 1 and .*got {n_rows}"):
        generate_customers(n_rows)


@pytest.mark.integration
def test_synthetic_customers_match_the_real_data(
    real_data_path: Path, customers: pd.DataFrame
) -> None:
    real = pd.read_csv(real_data_path)
    assert churn_rate(customers) == pytest.approx(churn_rate(real), abs=0.03)
    for column in CATEGORICAL_FEATURES:
        real_shares = real[column].value_counts(normalize=True)
        shares = customers[column].value_counts(normalize=True).reindex(real_shares.index)
        assert (shares.fillna(0) - real_shares).abs().max() < 0.05, column
    for column in ("tenure", "MonthlyCharges"):
        assert customers[column].mean() == pytest.approx(real[column].mean(), rel=0.10), column
    gaps = churn_rate_by(customers, "Contract") - churn_rate_by(real, "Contract")
    assert gaps.abs().max() < 0.06
