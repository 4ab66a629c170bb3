"""Quality from delayed labels: the metrics equal scikit-learn's, edge cases are explicit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from churnguard.data.drift import DriftSpec
from churnguard.data.preprocess import coerce_types
from churnguard.data.schema import CATEGORICAL_FEATURES, FEATURE_COLUMNS, NUMERIC_FEATURES
from churnguard.data.synthetic import generate_customers
from churnguard.monitoring.config import MonitoringConfig
from churnguard.monitoring.quality import (
    QualityMetrics,
    quality_by_version,
    quality_over_time,
)
from churnguard.monitoring.reference import MonitoringInputError

pytestmark = pytest.mark.unit

START = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def churn_model() -> Pipeline:
    """A small logistic churn model trained on 4,000 synthetic customers."""
    train = coerce_types(generate_customers(4000, seed=200))
    encode = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL_FEATURES)),
            ("numbers", StandardScaler(), list(NUMERIC_FEATURES)),
        ]
    )
    model = make_pipeline(encode, LogisticRegression(max_iter=2000))
    model.fit(train[list(FEATURE_COLUMNS)], train["Churn"])
    return model


def _labeled(
    model: Pipeline, n_rows: int, seed: int, version: str, days: int, drift: DriftSpec | None = None
) -> pd.DataFrame:
    """Predictions of ``model`` on fresh customers, spread over ``days``, with their outcome."""
    customers = coerce_types(generate_customers(n_rows, seed=seed, drift=drift))
    probability = model.predict_proba(customers)[:, 1]
    offsets = np.random.default_rng(seed).uniform(0, days * 86_400, n_rows)
    return pd.DataFrame(
        {
            "model_version": version,
            "created_at": pd.to_datetime(START) + pd.to_timedelta(offsets, unit="s"),
            "churn_probability": probability,
            "churn": probability >= 0.5,
            "actual": customers["Churn"].to_numpy() == 1,
        }
    )


@pytest.fixture(scope="module")
def labeled(churn_model: Pipeline) -> pd.DataFrame:
    """1,500 labeled predictions of version 1 over 20 days, then 600 of version 2 over 5."""
    first = _labeled(churn_model, 1500, 1, "1", 20)
    second = _labeled(churn_model, 600, 2, "2", 5)
    second["created_at"] += timedelta(days=20)
    return pd.concat([second, first], ignore_index=True)  # order must not matter


def _expected(rows: pd.DataFrame) -> dict[str, float]:
    y, p, label = rows["actual"], rows["churn_probability"], rows["churn"]
    return {
        "roc_auc": roc_auc_score(y, p),
        "pr_auc": average_precision_score(y, p),
        "precision": precision_score(y, label),
        "recall": recall_score(y, label),
        "f1": f1_score(y, label),
        "brier": brier_score_loss(y, p),
    }


def test_metrics_per_version_equal_scikit_learn(labeled: pd.DataFrame) -> None:
    results = quality_by_version(labeled, min_labels=200)
    assert [r.model_version for r in results] == ["1", "2"]  # in the order they first served
    for result in results:
        rows = labeled[labeled["model_version"] == result.model_version]
        assert result.status == "ok"
        assert (result.n, result.positives) == (len(rows), int(rows["actual"].sum()))
        for metric, value in _expected(rows).items():
            assert getattr(result, metric) == pytest.approx(value), metric
        assert result.mean_probability == pytest.approx(rows["churn_probability"].mean())
        assert result.positive_rate == pytest.approx(rows["actual"].mean())


def test_reliability_bins_and_ece_match_calibration_curve(labeled: pd.DataFrame) -> None:
    result = quality_by_version(labeled, min_labels=10)[0]
    rows = labeled[labeled["model_version"] == "1"]
    observed, predicted = calibration_curve(rows["actual"], rows["churn_probability"], n_bins=10)
    assert [b.observed_rate for b in result.reliability] == pytest.approx(observed)
    assert [b.mean_predicted for b in result.reliability] == pytest.approx(predicted)
    assert sum(b.n for b in result.reliability) == len(rows)
    weights = np.array([b.n for b in result.reliability]) / len(rows)
    assert result.ece == pytest.approx(float(np.sum(weights * np.abs(observed - predicted))))
    assert result.ece is not None
    assert 0 <= result.ece < 0.1  # the logistic model is calibrated on its own distribution


def test_too_few_labels_give_no_metrics(labeled: pd.DataFrame) -> None:
    results = {r.model_version: r for r in quality_by_version(labeled, min_labels=1000)}
    assert results["1"].status == "ok"
    short = results["2"]
    assert (short.status, short.n) == ("insufficient_labels", 600)
    assert short.roc_auc is None
    assert short.brier is None
    assert short.reliability == []


def test_labels_of_one_class_give_no_auc(labeled: pd.DataFrame) -> None:
    stayed = labeled[~labeled["actual"]]
    result = quality_by_version(stayed, min_labels=10)[0]
    assert result.positives == 0
    assert (result.roc_auc, result.pr_auc, result.recall, result.f1) == (None, None, None, None)
    assert result.precision == 0.0  # predicted churners exist, none churned
    assert result.brier == pytest.approx(
        float(np.mean(stayed[stayed["model_version"] == "1"]["churn_probability"] ** 2))
    )


def test_nobody_predicted_to_churn_leaves_precision_undefined(labeled: pd.DataFrame) -> None:
    none_flagged = labeled.assign(churn=False)
    result = quality_by_version(none_flagged, min_labels=10)[0]
    assert (result.precision, result.f1) == (None, None)
    assert result.recall == 0.0


def test_an_empty_frame_gives_no_results(labeled: pd.DataFrame) -> None:
    assert quality_by_version(labeled.iloc[0:0], min_labels=10) == []
    assert quality_over_time(labeled.iloc[0:0], window_days=7, min_labels=10) == []


def test_quality_over_time_rolls_a_window_day_by_day(labeled: pd.DataFrame) -> None:
    points = quality_over_time(labeled, window_days=7, min_labels=100)
    first = [p for p in points if p.model_version == "1"]
    assert [p.window_end for p in first] == [START + timedelta(days=d) for d in range(1, 21)]
    assert all(p.window_end - p.window_start == timedelta(days=7) for p in points)
    for point in (first[0], first[10], first[-1]):
        inside = labeled[
            (labeled["model_version"] == "1")
            & (labeled["created_at"] >= point.window_start)
            & (labeled["created_at"] < point.window_end)
        ]
        assert point.n == len(inside)
        if point.status == "ok":
            assert point.roc_auc == pytest.approx(
                roc_auc_score(inside["actual"], inside["churn_probability"])
            )
    assert first[0].status == "insufficient_labels"  # one day of ~75 labels
    assert first[10].status == "ok"
    second = [p for p in points if p.model_version == "2"]
    assert second[0].window_end == START + timedelta(days=21)


def test_a_drifted_churn_relation_shows_in_the_labels(churn_model: Pipeline) -> None:
    config = MonitoringConfig()
    healthy = quality_by_version(_labeled(churn_model, 3000, 7, "1", 10), min_labels=200)[0]
    concept = _labeled(churn_model, 3000, 7, "1", 10, DriftSpec(churn_coefficient_scale=0.0))
    shifted = _labeled(churn_model, 3000, 7, "1", 10, DriftSpec(churn_logit_shift=1.0))
    broken = quality_by_version(concept, min_labels=200)[0]
    more_churn = quality_by_version(shifted, min_labels=200)[0]
    assert healthy.roc_auc is not None
    assert healthy.roc_auc >= config.min_roc_auc
    assert broken.roc_auc is not None
    assert broken.roc_auc < config.min_roc_auc  # the features no longer explain churn
    assert more_churn.ece is not None
    assert healthy.ece is not None
    assert more_churn.ece > 3 * healthy.ece
    assert more_churn.positive_rate is not None
    assert more_churn.mean_probability is not None
    assert more_churn.positive_rate - more_churn.mean_probability > 0.1


def test_integer_flags_and_naive_timestamps_are_accepted(labeled: pd.DataFrame) -> None:
    plain = labeled.assign(
        churn=labeled["churn"].astype(int),
        actual=labeled["actual"].astype(int),
        created_at=labeled["created_at"].dt.tz_localize(None),
    )
    assert quality_by_version(plain, 10) == quality_by_version(labeled, 10)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="actual"), r"lacks the column\(s\) \['actual'\]"),
        (lambda f: f.assign(created_at="yesterday"), "'created_at' must hold datetimes"),
        (lambda f: f.assign(created_at=1.7e9), "'created_at' must hold datetimes"),
        (
            lambda f: f.assign(actual=np.where(f.index == 3, np.nan, 1.0)),
            "'actual' must hold booleans",
        ),
        (lambda f: f.assign(churn="yes"), "'churn' must hold booleans"),
        (lambda f: f.assign(churn_probability=f["churn_probability"] + 1), r"outside \[0, 1\]"),
        (lambda f: f.assign(churn_probability="high"), "'churn_probability' must hold numbers"),
        (lambda f: f.assign(model_version=None), "'model_version' has missing values"),
    ],
    ids=[
        "missing-column",
        "text-time",
        "number-time",
        "missing-label",
        "text-flag",
        "probability",
        "text-probability",
        "no-version",
    ],
)
def test_bad_labeled_frames_are_clear_errors(
    labeled: pd.DataFrame, change: object, message: str
) -> None:
    frame = change(labeled.head(50).copy())  # type: ignore[operator]
    with pytest.raises(MonitoringInputError, match=message):
        quality_by_version(frame, 10)


@pytest.mark.parametrize(
    ("window_days", "min_labels", "name"),
    [(0, 10, "window_days"), (7, 0, "min_labels"), (7, 2.5, "min_labels")],
)
def test_non_positive_settings_are_refused(
    labeled: pd.DataFrame, window_days: int, min_labels: int, name: str
) -> None:
    with pytest.raises(MonitoringInputError, match=f"{name} must be a whole number >= 1"):
        quality_over_time(labeled, window_days, min_labels)


def test_results_serialize_to_json(labeled: pd.DataFrame) -> None:
    result = quality_by_version(labeled, 10)[0]
    assert QualityMetrics.model_validate_json(result.model_dump_json()) == result
