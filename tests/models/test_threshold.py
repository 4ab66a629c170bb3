"""Tests of the decision threshold: expected profit, F1 and profit strategies, input checks."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from churnguard.models.config import ThresholdConfig
from churnguard.models.threshold import (
    THRESHOLD_GRID,
    check_predictions,
    choose_threshold,
    expected_profit,
    profit_at_thresholds,
)

pytestmark = pytest.mark.unit

ECONOMICS = ThresholdConfig(offer_cost=10.0, saved_customer_value=200.0, offer_success_rate=0.3)


def _calibrated_scores(n_rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Churn probabilities and labels drawn from them, so the scores are calibrated."""
    rng = np.random.default_rng(seed)
    proba = rng.beta(1.5, 4.0, n_rows)
    return (rng.random(n_rows) < proba).astype(np.int64), proba


def test_expected_profit_matches_hand_arithmetic() -> None:
    y = [1, 0, 1, 0]
    proba = [0.9, 0.8, 0.3, 0.1]

    # Targeted: the churner at 0.9 (0.3 * 200 - 10 = 50) and the stayer at 0.8 (-10).
    assert expected_profit(y, proba, 0.5, ECONOMICS) == pytest.approx(40.0)


def test_expected_profit_targets_customers_exactly_at_the_threshold() -> None:
    assert expected_profit([1, 0], [0.5, 0.2], 0.5, ECONOMICS) == pytest.approx(50.0)


def test_expected_profit_is_zero_when_nobody_is_targeted() -> None:
    assert expected_profit([1, 0], [0.4, 0.2], 0.9, ECONOMICS) == 0.0


def test_vectorised_profit_equals_a_customer_by_customer_sum() -> None:
    y, proba = _calibrated_scores(300, seed=1)
    thresholds = [0.0, 0.05, 0.2, 0.37, 0.6, 1.0]
    per_customer = y * 0.3 * 200.0 - 10.0
    expected = [per_customer[proba >= t].sum() for t in thresholds]

    np.testing.assert_allclose(profit_at_thresholds(y, proba, thresholds, ECONOMICS), expected)


def test_threshold_grid_is_one_hundredth_steps_from_001_to_099() -> None:
    assert THRESHOLD_GRID[0] == 0.01
    assert THRESHOLD_GRID[-1] == 0.99
    np.testing.assert_allclose(np.diff(THRESHOLD_GRID), 0.01)


def test_f1_strategy_finds_the_known_best_threshold() -> None:
    # Thresholds in (0.1, 0.3] flag four customers holding all three churners: F1 = 6/7.
    y = [0, 1, 0, 1, 1]
    proba = [0.1, 0.3, 0.4, 0.6, 0.7]

    choice = choose_threshold(y, proba, ThresholdConfig(strategy="f1"))

    assert choice.threshold == pytest.approx(0.11)
    assert choice.strategy == "f1"
    assert choice.score == pytest.approx(6 / 7)
    assert choice.f1 == pytest.approx(6 / 7)
    assert choice.precision == pytest.approx(0.75)
    assert choice.recall == pytest.approx(1.0)


def test_tied_thresholds_resolve_to_the_lowest() -> None:
    # Every threshold in (0.2, 0.8] separates the classes perfectly.
    choice = choose_threshold([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], ThresholdConfig())

    assert choice.threshold == pytest.approx(0.21)
    assert choice.f1 == pytest.approx(1.0)


def test_f1_choice_is_the_best_of_the_grid_by_sklearn() -> None:
    y, proba = _calibrated_scores(500, seed=2)

    choice = choose_threshold(y, proba, ThresholdConfig(strategy="f1"))

    grid_f1 = [f1_score(y, (proba >= t).astype(int), zero_division=0.0) for t in THRESHOLD_GRID]
    assert choice.f1 == pytest.approx(max(grid_f1))
    assert choice.threshold == pytest.approx(THRESHOLD_GRID[int(np.argmax(grid_f1))])


def test_profit_strategy_finds_the_known_best_threshold() -> None:
    # Each saved churner is worth 0.5 * 100 = 50; each offer costs 10.
    economics = ThresholdConfig(
        strategy="profit", offer_cost=10.0, saved_customer_value=100.0, offer_success_rate=0.5
    )

    choice = choose_threshold([1, 0, 0], [0.9, 0.5, 0.2], economics)

    assert choice.threshold == pytest.approx(0.51)
    assert choice.score == pytest.approx(40.0)
    assert choice.expected_profit == pytest.approx(40.0)
    assert choice.precision == pytest.approx(1.0)


def test_profit_strategy_targets_more_customers_when_offers_are_cheap() -> None:
    y, proba = _calibrated_scores(1000, seed=3)
    generous = {"offer_cost": 1.0, "saved_customer_value": 500.0, "offer_success_rate": 0.3}

    by_f1 = choose_threshold(y, proba, ThresholdConfig(strategy="f1", **generous))
    by_profit = choose_threshold(y, proba, ThresholdConfig(strategy="profit", **generous))

    assert by_profit.threshold < by_f1.threshold
    assert by_profit.expected_profit > by_f1.expected_profit
    assert by_profit.recall > by_f1.recall


@pytest.mark.parametrize(
    ("y_true", "proba", "problem"),
    [
        ([0, 1, 1], [0.1, 0.9], "same length"),
        ([0, 2, 1], [0.1, 0.9, 0.5], "only 0 and 1"),
        ([0.0, np.nan, 1.0], [0.1, 0.9, 0.5], "only 0 and 1"),
        (["No", "Yes"], [0.1, 0.9], "only 0 and 1"),
        ([1, 1, 1], [0.1, 0.9, 0.5], "only class 1"),
        ([0, 1, 1], [0.1, 1.2, 0.5], r"\[0, 1\]"),
        ([0, 1, 1], [0.1, -0.1, 0.5], r"\[0, 1\]"),
        ([0, 1, 1], [0.1, np.nan, 0.5], "NaN"),
        ([], [], "empty"),
        ([[0, 1]], [[0.2, 0.8]], "1-D"),
        ([0, 1], ["low", "high"], "numbers"),
    ],
)
def test_choose_threshold_rejects_invalid_predictions(
    y_true: list[object], proba: list[object], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        choose_threshold(y_true, proba, ThresholdConfig())


def test_check_predictions_accepts_one_class_when_not_required() -> None:
    y, proba = check_predictions([0, 0], [0.3, 0.4], require_both_classes=False)

    assert y.dtype == np.int64
    assert proba.tolist() == [0.3, 0.4]


def test_expected_profit_rejects_a_threshold_outside_the_unit_interval() -> None:
    with pytest.raises(ValueError, match="thresholds"):
        expected_profit([0, 1], [0.2, 0.8], 1.5, ECONOMICS)
