"""Tests of evaluation: headline metrics, slices, profit curve and the JSON report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pydantic
import pytest
from sklearn.metrics import confusion_matrix, f1_score, roc_auc_score

from churnguard.config import ChurnguardConfig, load_config
from churnguard.data.preprocess import preprocess_data
from churnguard.data.schema import CATEGORIES, TARGET_COLUMN
from churnguard.data.synthetic import generate_customers
from churnguard.features import TelcoFeatureEngineer, tenure_bucket_labels
from churnguard.models.config import ThresholdConfig
from churnguard.models.estimators import build_model_pipeline
from churnguard.models.evaluate import (
    METRIC_NAMES,
    SLICE_COLUMNS,
    EvaluationReport,
    classification_metrics,
    evaluate_predictions,
    profit_curve,
    slice_metrics,
)
from churnguard.models.threshold import expected_profit

pytestmark = pytest.mark.unit

CONFIG_PATH = Path(__file__).resolve().parents[2] / "configs" / "config.yaml"
ECONOMICS = ThresholdConfig(offer_cost=10.0, saved_customer_value=200.0, offer_success_rate=0.3)


@dataclass(frozen=True)
class Scored:
    """A fitted logistic model's churn probabilities on a held-out synthetic test split."""

    config: ChurnguardConfig
    frame: pd.DataFrame
    y: np.ndarray
    proba: np.ndarray


@pytest.fixture(scope="module")
def scored() -> Scored:
    # Module scope runs before the per-test environment cleanup: read the files only.
    config = load_config(CONFIG_PATH, use_env=False)
    splits = preprocess_data(generate_customers(2000, seed=3), config.split)
    model = build_model_pipeline(config.features, config.model, estimator="logistic")
    model.fit(splits.train, splits.train[TARGET_COLUMN])
    test = splits.test
    return Scored(
        config=config,
        frame=test,
        y=test[TARGET_COLUMN].to_numpy(),
        proba=model.predict_proba(test)[:, 1],
    )


def test_classification_metrics_returns_exactly_the_named_metrics(scored: Scored) -> None:
    metrics = classification_metrics(scored.y, scored.proba, 0.5)

    assert tuple(metrics) == METRIC_NAMES
    assert all(isinstance(value, float) for value in metrics.values())


def test_classification_metrics_match_hand_computed_values() -> None:
    # Predicted at 0.5: [0, 1, 0, 1] -> one TP, one FP, one FN, one TN.
    metrics = classification_metrics([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9], 0.5)

    assert metrics["accuracy"] == pytest.approx(0.5)
    assert metrics["precision"] == pytest.approx(0.5)
    assert metrics["recall"] == pytest.approx(0.5)
    assert metrics["f1"] == pytest.approx(0.5)
    assert metrics["roc_auc"] == pytest.approx(0.75)  # 3 of 4 churner/stayer pairs ordered
    assert metrics["brier"] == pytest.approx((0.01 + 0.36 + 0.36 + 0.01) / 4)


def test_perfect_separation_scores_full_auc_and_maximal_lift() -> None:
    y = np.array([1] * 10 + [0] * 90)
    proba = np.where(y == 1, 0.9, 0.1)

    metrics = classification_metrics(y, proba, 0.5)

    assert metrics["roc_auc"] == pytest.approx(1.0)
    assert metrics["pr_auc"] == pytest.approx(1.0)
    assert metrics["accuracy"] == pytest.approx(1.0)
    assert metrics["lift_top_decile"] == pytest.approx(1 / 0.1)


def test_lift_counts_customers_tied_at_the_cutoff_fairly() -> None:
    # All scores equal: the top decile is a random draw, so its expected lift is 1.
    y = np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 0])

    for order in (y, y[::-1]):
        assert classification_metrics(order, np.full(10, 0.3), 0.5)["lift_top_decile"] == 1.0


def test_undefined_precision_is_zero_without_a_warning() -> None:
    # No score reaches the threshold, so nobody is predicted to churn.
    metrics = classification_metrics([0, 1, 1], [0.2, 0.4, 0.6], 1.0)

    assert metrics["precision"] == 0.0
    assert metrics["recall"] == 0.0
    assert metrics["f1"] == 0.0


def test_realistic_predictions_beat_chance(scored: Scored) -> None:
    metrics = classification_metrics(scored.y, scored.proba, 0.5)

    assert metrics["roc_auc"] > 0.75
    assert metrics["lift_top_decile"] > 1.5
    assert metrics["pr_auc"] > scored.y.mean()


@pytest.mark.parametrize(
    ("threshold", "problem"), [(1.5, r"\[0, 1\]"), (float("nan"), "threshold")]
)
def test_classification_metrics_reject_a_bad_threshold(threshold: float, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        classification_metrics([0, 1], [0.2, 0.8], threshold)


def test_classification_metrics_require_both_classes() -> None:
    with pytest.raises(ValueError, match="only class 0"):
        classification_metrics([0, 0], [0.2, 0.8], 0.5)


def test_slices_cover_every_contract_value(scored: Scored) -> None:
    slices = slice_metrics(
        scored.frame, scored.y, scored.proba, 0.5, scored.config.features.tenure_bins
    )

    assert list(slices.columns) == list(SLICE_COLUMNS)
    contract = slices[slices["slice"] == "Contract"]
    assert contract["value"].tolist() == list(CATEGORIES["Contract"])
    assert contract["n"].sum() == len(scored.frame)


def test_slice_rows_agree_with_a_groupby_of_the_frame(scored: Scored) -> None:
    slices = slice_metrics(
        scored.frame, scored.y, scored.proba, 0.5, scored.config.features.tenure_bins
    )

    by_internet = scored.frame.groupby("InternetService")[TARGET_COLUMN].agg(["size", "mean"])
    internet = slices[slices["slice"] == "InternetService"].set_index("value")
    assert internet["n"].to_dict() == by_internet["size"].to_dict()
    np.testing.assert_allclose(internet["churn_rate"], by_internet["mean"].loc[internet.index])
    fiber = (scored.frame["InternetService"] == "Fiber optic").to_numpy()
    assert internet.loc["Fiber optic", "roc_auc"] == pytest.approx(
        roc_auc_score(scored.y[fiber], scored.proba[fiber])
    )
    assert internet.loc["Fiber optic", "f1"] == pytest.approx(
        f1_score(scored.y[fiber], scored.proba[fiber] >= 0.5)
    )


def test_tenure_slices_use_the_feature_pipeline_buckets_in_order(scored: Scored) -> None:
    bins = scored.config.features.tenure_bins

    slices = slice_metrics(scored.frame, scored.y, scored.proba, 0.5, bins)

    buckets = TelcoFeatureEngineer(bins).fit(scored.frame).transform(scored.frame)
    counts = buckets["tenure_bucket"].value_counts().to_dict()
    tenure = slices[slices["slice"] == "tenure_bucket"]
    labels = tenure_bucket_labels(bins)
    assert tenure["value"].tolist() == [label for label in labels if label in counts]
    assert dict(zip(tenure["value"], tenure["n"], strict=True)) == counts


def test_slices_follow_a_fixed_order(scored: Scored) -> None:
    slices = slice_metrics(
        scored.frame, scored.y, scored.proba, 0.5, scored.config.features.tenure_bins
    )
    shuffled = scored.frame.sample(frac=1.0, random_state=0)
    order = shuffled.index.to_numpy()

    again = slice_metrics(
        shuffled, scored.y[order], scored.proba[order], 0.5, scored.config.features.tenure_bins
    )

    assert slices["slice"].unique().tolist() == [
        "Contract",
        "tenure_bucket",
        "InternetService",
        "SeniorCitizen",
    ]
    pd.testing.assert_frame_equal(slices, again)


def test_a_slice_with_one_class_has_nan_roc_auc(scored: Scored) -> None:
    two_year = (scored.frame["Contract"] == "Two year").to_numpy()
    y = np.where(two_year, 0, scored.y)

    slices = slice_metrics(scored.frame, y, scored.proba, 0.5, scored.config.features.tenure_bins)

    auc = slices.set_index(["slice", "value"])["roc_auc"]
    assert np.isnan(auc[("Contract", "Two year")])
    assert not np.isnan(auc[("Contract", "Month-to-month")])


def test_slice_metrics_reject_a_frame_of_another_length(scored: Scored) -> None:
    with pytest.raises(ValueError, match="rows but there are"):
        slice_metrics(scored.frame.iloc[:10], scored.y, scored.proba, 0.5, (0, 12, 24))


def test_profit_curve_defaults_to_hundredths_from_zero_to_one() -> None:
    curve = profit_curve([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1], ECONOMICS)

    assert list(curve.columns) == ["threshold", "targeted_share", "expected_profit"]
    assert len(curve) == 101
    assert curve["threshold"].iloc[0] == 0.0
    assert curve["threshold"].iloc[-1] == 1.0
    at = curve.set_index(curve["threshold"].round(2))
    assert at.loc[0.0, "targeted_share"] == 1.0
    assert at.loc[0.0, "expected_profit"] == pytest.approx(2 * 60 - 4 * 10)
    assert at.loc[0.5, "targeted_share"] == 0.5
    assert at.loc[0.5, "expected_profit"] == pytest.approx(40.0)


def test_profit_curve_agrees_with_expected_profit(scored: Scored) -> None:
    curve = profit_curve(scored.y, scored.proba, ECONOMICS, thresholds=[0.15, 0.4, 0.75])

    expected = [expected_profit(scored.y, scored.proba, t, ECONOMICS) for t in (0.15, 0.4, 0.75)]
    np.testing.assert_allclose(curve["expected_profit"], expected)
    assert curve["targeted_share"].is_monotonic_decreasing


def test_evaluation_report_combines_metrics_confusion_matrix_and_slices(scored: Scored) -> None:
    report = evaluate_predictions(
        scored.frame,
        scored.y,
        scored.proba,
        0.4,
        ECONOMICS,
        scored.config.features.tenure_bins,
    )

    predicted = (scored.proba >= 0.4).astype(int)
    assert report.confusion_matrix == confusion_matrix(scored.y, predicted).tolist()
    assert report.metrics == classification_metrics(scored.y, scored.proba, 0.4)
    assert report.n_rows == len(scored.frame)
    assert report.churn_rate == pytest.approx(scored.y.mean())
    assert report.expected_profit == pytest.approx(
        expected_profit(scored.y, scored.proba, 0.4, ECONOMICS)
    )
    assert "stay" in report.classification_report
    assert "churn" in report.classification_report
    assert len(report.slices) == len(
        slice_metrics(scored.frame, scored.y, scored.proba, 0.4, (0, 6, 12, 24, 48, 72))
    )


def test_evaluation_report_survives_a_json_round_trip_with_nan_auc(scored: Scored) -> None:
    y = np.where((scored.frame["Contract"] == "Two year").to_numpy(), 0, scored.y)
    report = evaluate_predictions(
        scored.frame, y, scored.proba, 0.4, ECONOMICS, scored.config.features.tenure_bins
    )

    restored = EvaluationReport.model_validate_json(report.model_dump_json())

    assert restored == report
    two_year = next(row for row in restored.slices if row["value"] == "Two year")
    assert two_year["roc_auc"] is None
    assert np.isnan(restored.slice_frame().set_index("value").loc["Two year", "roc_auc"])


def test_evaluation_report_rejects_unknown_fields(scored: Scored) -> None:
    report = evaluate_predictions(
        scored.frame, scored.y, scored.proba, 0.4, ECONOMICS, scored.config.features.tenure_bins
    )
    data = report.model_dump() | {"surprise": 1}

    with pytest.raises(pydantic.ValidationError, match="surprise"):
        EvaluationReport.model_validate(data)
