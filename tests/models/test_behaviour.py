"""Tests of the model-behaviour checks: invariance, direction, schema, minimum quality."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray
from sklearn.metrics import average_precision_score, roc_auc_score

from churnguard.data.preprocess import SplitFrames
from churnguard.data.schema import FEATURE_COLUMNS, TARGET_COLUMN
from churnguard.features import FeatureConfig
from churnguard.models.behaviour import (
    DIRECTIONAL_CONTRACT,
    INVARIANCE_GENDER,
    MIN_LOWERED_SHARE,
    QUALITY,
    SCHEMA,
    CheckResult,
    behaviour_suite,
    directional_contract,
    gate_metric,
    invariance_gender,
    quality_check,
    schema_check,
)
from churnguard.models.config import GateConfig, ModelConfig
from churnguard.models.estimators import build_model_pipeline

pytestmark = pytest.mark.model


class RuleModel:
    """A hand-written churn model: month-to-month customers are riskier, gender as configured.

    Args:
        gender_effect: Added to the probability of male customers.
        two_year_effect: Added to the probability of two-year contracts.
        affected_share: Share of customers (by row position) the contract effect reaches.
    """

    def __init__(
        self, gender_effect: float = 0.0, two_year_effect: float = -0.3, affected_share: float = 1.0
    ) -> None:
        self.gender_effect = gender_effect
        self.two_year_effect = two_year_effect
        self.affected_share = affected_share

    def predict_proba(self, features: pd.DataFrame) -> NDArray[np.float64]:
        reached = np.arange(len(features)) < self.affected_share * len(features)
        two_year = (features["Contract"] == "Two year").to_numpy() & reached
        male = (features["gender"] == "Male").to_numpy()
        churn = 0.5 + self.two_year_effect * two_year + self.gender_effect * male
        churn = np.clip(churn, 0.0, 1.0)
        return np.column_stack([1.0 - churn, churn])


class FixedOutputModel:
    """Returns the same array whatever it is asked to score."""

    def __init__(self, output: NDArray[np.float64]) -> None:
        self.output = output

    def predict_proba(self, features: pd.DataFrame) -> NDArray[np.float64]:
        return self.output


class BrokenModel:
    """Fails the way an incompatible model would."""

    def predict_proba(self, features: pd.DataFrame) -> NDArray[np.float64]:
        raise ValueError("columns are missing: {'tenure_bucket'}")


@pytest.fixture
def test_frame(registry_splits: SplitFrames) -> pd.DataFrame:
    """The processed test split (with customerID and Churn)."""
    return registry_splits.test


def test_gender_blind_model_passes_invariance(test_frame: pd.DataFrame) -> None:
    result = invariance_gender(RuleModel(gender_effect=0.0), test_frame, max_delta=0.02)

    assert result.name == INVARIANCE_GENDER
    assert result.passed
    assert result.value == 0.0
    assert result.limit == 0.02


def test_model_using_gender_fails_invariance_with_the_largest_change(
    test_frame: pd.DataFrame,
) -> None:
    result = invariance_gender(RuleModel(gender_effect=0.05), test_frame, max_delta=0.02)

    assert not result.passed
    assert result.value == pytest.approx(0.05)
    assert "0.0500" in result.detail
    assert "gender" in result.detail


def test_invariance_swaps_gender_on_every_row(test_frame: pd.DataFrame) -> None:
    seen: list[pd.Series] = []

    class Recorder(RuleModel):
        def predict_proba(self, features: pd.DataFrame) -> NDArray[np.float64]:
            seen.append(features["gender"].reset_index(drop=True))
            return super().predict_proba(features)

    invariance_gender(Recorder(), test_frame, max_delta=0.02)

    swapped, original = seen
    assert (swapped != original).all()
    assert set(swapped) == {"Male", "Female"}


def test_a_model_returning_nan_for_swapped_rows_fails_invariance_and_survives_json(
    test_frame: pd.DataFrame,
) -> None:
    class NanForMen(RuleModel):
        def predict_proba(self, features: pd.DataFrame) -> NDArray[np.float64]:
            output = super().predict_proba(features)
            output[(features["gender"] == "Male").to_numpy(), 1] = np.nan
            return output

    result = invariance_gender(NanForMen(), test_frame, max_delta=0.02)
    restored = CheckResult.model_validate_json(result.model_dump_json())

    assert not result.passed
    assert math.isnan(restored.value)


def test_invariance_is_strict_at_the_limit(test_frame: pd.DataFrame) -> None:
    result = invariance_gender(RuleModel(gender_effect=0.25), test_frame, max_delta=0.25)

    assert not result.passed


def test_two_year_contract_lowering_churn_passes_the_directional_check(
    test_frame: pd.DataFrame,
) -> None:
    result = directional_contract(RuleModel(two_year_effect=-0.3), test_frame)

    monthly = int((test_frame["Contract"] == "Month-to-month").sum())
    assert result.name == DIRECTIONAL_CONTRACT
    assert result.passed
    assert result.value == 1.0
    assert result.limit == MIN_LOWERED_SHARE
    assert f"{monthly} of {monthly} month-to-month customers" in result.detail
    assert "mean change -0.3000" in result.detail


def test_two_year_contract_raising_churn_fails_the_directional_check(
    test_frame: pd.DataFrame,
) -> None:
    result = directional_contract(RuleModel(two_year_effect=0.2), test_frame)

    assert not result.passed
    assert result.value == 0.0
    assert "mean change +0.2000" in result.detail


def test_directional_check_needs_most_customers_lowered_not_just_a_negative_mean(
    test_frame: pd.DataFrame,
) -> None:
    result = directional_contract(RuleModel(two_year_effect=-0.5, affected_share=0.5), test_frame)

    assert not result.passed
    assert 0.4 < result.value < 0.6
    assert "mean change -" in result.detail


def test_directional_check_without_month_to_month_customers_fails_without_crashing(
    test_frame: pd.DataFrame,
) -> None:
    long_contracts = test_frame[test_frame["Contract"] != "Month-to-month"]

    result = directional_contract(RuleModel(), long_contracts)

    assert not result.passed
    assert "no month-to-month customers" in result.detail


def test_schema_check_passes_a_model_scoring_every_row(test_frame: pd.DataFrame) -> None:
    result = schema_check(RuleModel(), test_frame)

    assert result.name == SCHEMA
    assert result.passed
    assert result.value == 1.0
    assert f"scored {len(test_frame)} customers" in result.detail


def test_schema_check_scores_the_feature_columns_in_schema_order(test_frame: pd.DataFrame) -> None:
    seen: list[list[str]] = []

    class Recorder(RuleModel):
        def predict_proba(self, features: pd.DataFrame) -> NDArray[np.float64]:
            seen.append(list(features.columns))
            return super().predict_proba(features)

    schema_check(Recorder(), test_frame[list(reversed(test_frame.columns))])

    assert seen == [list(FEATURE_COLUMNS)]


def test_schema_check_fails_on_a_missing_column_and_names_it(test_frame: pd.DataFrame) -> None:
    result = schema_check(RuleModel(), test_frame.drop(columns=["tenure", "Contract"]))

    assert not result.passed
    assert "tenure" in result.detail
    assert "Contract" in result.detail


def test_schema_check_turns_a_model_exception_into_a_failure(test_frame: pd.DataFrame) -> None:
    result = schema_check(BrokenModel(), test_frame)

    assert not result.passed
    assert "ValueError" in result.detail
    assert "tenure_bucket" in result.detail


@pytest.mark.parametrize(
    ("churn", "expected"),
    [
        pytest.param(np.nan, "not finite values in [0, 1]", id="nan"),
        pytest.param(1.5, "not finite values in [0, 1]", id="above-one"),
        pytest.param(-0.1, "not finite values in [0, 1]", id="negative"),
    ],
)
def test_schema_check_fails_on_probabilities_outside_zero_one(
    test_frame: pd.DataFrame, churn: float, expected: str
) -> None:
    output = np.full((len(test_frame), 2), 0.5)
    output[0, 1] = churn

    result = schema_check(FixedOutputModel(output), test_frame)

    assert not result.passed
    assert expected in result.detail
    assert result.value == pytest.approx(1 - 1 / len(test_frame))


def test_schema_check_fails_on_the_wrong_number_of_rows(test_frame: pd.DataFrame) -> None:
    result = schema_check(FixedOutputModel(np.full((3, 2), 0.5)), test_frame)

    assert not result.passed
    assert f"expected ({len(test_frame)}, 2)" in result.detail


def test_schema_check_fails_on_an_empty_frame(test_frame: pd.DataFrame) -> None:
    result = schema_check(RuleModel(), test_frame.iloc[0:0])

    assert not result.passed
    assert "no rows" in result.detail


def test_suite_reports_the_three_checks_in_order(test_frame: pd.DataFrame) -> None:
    results = behaviour_suite(RuleModel(gender_effect=0.1), test_frame, GateConfig())

    assert [r.name for r in results] == [SCHEMA, INVARIANCE_GENDER, DIRECTIONAL_CONTRACT]
    assert [r.passed for r in results] == [True, False, True]


def test_suite_never_crashes_on_a_missing_column(test_frame: pd.DataFrame) -> None:
    results = behaviour_suite(RuleModel(), test_frame.drop(columns=["gender"]), GateConfig())

    assert [r.name for r in results] == [SCHEMA, INVARIANCE_GENDER, DIRECTIONAL_CONTRACT]
    assert not any(r.passed for r in results)
    assert all("gender" in r.detail for r in results)


def test_a_trained_churn_model_passes_the_suite(
    registry_splits: SplitFrames, registry_model_config: ModelConfig
) -> None:
    train = registry_splits.train
    model = build_model_pipeline(FeatureConfig(), registry_model_config)
    model.fit(train[list(FEATURE_COLUMNS)], train[TARGET_COLUMN])

    results = behaviour_suite(model, registry_splits.test, GateConfig())

    assert all(r.passed for r in results), [r.detail for r in results]


def test_gate_metric_is_roc_auc_or_average_precision(test_frame: pd.DataFrame) -> None:
    model = RuleModel(gender_effect=0.1)
    churn = model.predict_proba(test_frame)[:, 1]

    roc = gate_metric(model, test_frame, "roc_auc")
    pr = gate_metric(model, test_frame, "pr_auc")

    assert roc == pytest.approx(roc_auc_score(test_frame[TARGET_COLUMN], churn))
    assert pr == pytest.approx(average_precision_score(test_frame[TARGET_COLUMN], churn))
    assert roc != pr


def test_quality_against_a_champion_needs_the_margin() -> None:
    gate = GateConfig(margin=0.01)

    just_enough = quality_check("roc_auc", 0.81, gate, champion=0.80)
    short = quality_check("roc_auc", 0.805, gate, champion=0.80)

    assert just_enough.name == QUALITY
    assert just_enough.passed
    assert just_enough.limit == pytest.approx(0.81)
    assert not short.passed
    assert "0.8050 < the champion's 0.8000 + margin 0.0100" in short.detail


def test_first_model_quality_needs_min_auc_and_the_baseline() -> None:
    gate = GateConfig(min_auc=0.75)

    below_baseline = quality_check("roc_auc", 0.80, gate, baseline=0.82)
    below_min = quality_check("roc_auc", 0.74, gate, baseline=0.70)
    above_both = quality_check("roc_auc", 0.83, gate, baseline=0.82)

    assert not below_baseline.passed
    assert below_baseline.limit == 0.82
    assert "logistic baseline's 0.8200" in below_baseline.detail
    assert not below_min.passed
    assert below_min.limit == 0.75
    assert "gate.min_auc 0.7500" in below_min.detail
    assert above_both.passed
