from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from churnguard.models.forest import CompiledForest, ForestInput, UnsupportedForestError

pytestmark = pytest.mark.unit


def _data(rows: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Continuous columns (with repeated values) and three one-hot columns of one field."""
    rng = np.random.default_rng(seed)
    continuous = rng.normal(size=(rows, 4))
    continuous[:, 1] = np.round(continuous[:, 1], 1)  # many rows exactly on a threshold
    category = rng.integers(0, 3, rows)
    one_hot = np.eye(3)[category]
    x = np.hstack([continuous, one_hot])
    logit = continuous[:, 0] - continuous[:, 1] * continuous[:, 2] + (category == 2) * 1.5
    y = (logit + rng.logistic(size=rows) > 0).astype(int)
    return x, y


def _booster(x: np.ndarray, y: np.ndarray, **params: Any) -> lgb.Booster:
    settings = {"objective": "binary", "num_leaves": 8, "verbose": -1, "seed": 1} | params
    rounds = settings.pop("rounds", 120)
    return lgb.train(settings, lgb.Dataset(x, y), num_boost_round=rounds)


def _continuous(width: int) -> list[ForestInput]:
    return [ForestInput((j,)) for j in range(width)]


@pytest.mark.parametrize("leaves", [2, 3, 5, 8])
def test_raw_scores_equal_lightgbm(leaves: int) -> None:
    x, y = _data()
    booster = _booster(x, y, num_leaves=leaves, min_data_in_leaf=5)
    forest = CompiledForest(booster, _continuous(x.shape[1]))
    # Training rows (values exactly on thresholds included) and fresh ones.
    fresh, _ = _data(2000, seed=1)
    for rows in (x, fresh, x[:1]):
        expected = booster.predict(rows, raw_score=True)
        got = forest.raw_score([rows[:, j] for j in range(rows.shape[1])])
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_a_value_on_a_threshold_goes_left_as_in_lightgbm() -> None:
    x, y = _data()
    booster = _booster(x, y, rounds=40)
    forest = CompiledForest(booster, _continuous(x.shape[1]))
    thresholds = forest._thresholds[0]
    probe = np.repeat(x[:1], 3 * len(thresholds), axis=0)
    probe[:, 0] = np.concatenate(
        [thresholds, np.nextafter(thresholds, -np.inf), np.nextafter(thresholds, np.inf)]
    )
    expected = booster.predict(probe, raw_score=True)
    got = forest.raw_score([probe[:, j] for j in range(probe.shape[1])])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_coded_inputs_and_grouped_tables_equal_the_continuous_columns() -> None:
    x, y = _data()
    booster = _booster(x, y)
    continuous = CompiledForest(booster, _continuous(x.shape[1]))
    field = ForestInput((4, 5, 6), np.vstack([np.eye(3), np.zeros((1, 3))]))
    # A second coded input (the sign of column 3) merges into the same table.
    sign = ForestInput((3,), np.array([[-1.0], [1.0]]))
    coded = CompiledForest(booster, [*_continuous(3), sign, field], group_limit=8)
    assert len(coded._groups) == 1
    codes = np.argmax(x[:, 4:], axis=1)
    rows = x.copy()
    rows[:, 3] = np.where(x[:, 3] > 0, 1.0, -1.0)
    expected = continuous.raw_score([rows[:, j] for j in range(rows.shape[1])])
    got = coded.raw_score([x[:, 0], x[:, 1], x[:, 2], (x[:, 3] > 0).astype(int), codes])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got, booster.predict(rows, raw_score=True), rtol=0, atol=1e-12)
    # Code 3 (a value outside the field's categories) is "all columns 0".
    zeros = rows.copy()
    zeros[:, 4:] = 0.0
    got = coded.raw_score(
        [x[:, 0], x[:, 1], x[:, 2], (x[:, 3] > 0).astype(int), np.full(len(x), 3)]
    )
    np.testing.assert_allclose(got, booster.predict(zeros, raw_score=True), rtol=0, atol=1e-12)


def test_single_leaf_trees_are_a_constant() -> None:
    x, y = _data(200)
    booster = _booster(x, y, min_data_in_leaf=500, rounds=5)  # no split is ever allowed
    forest = CompiledForest(booster, _continuous(x.shape[1]))
    got = forest.raw_score([x[:, j] for j in range(x.shape[1])])
    np.testing.assert_allclose(got, booster.predict(x, raw_score=True), rtol=0, atol=1e-12)


def test_nan_inputs_are_left_to_lightgbm() -> None:
    x, y = _data()
    x[::7, 0] = np.nan  # trained with missing values: splits with missing type NaN
    booster = _booster(x, y)
    forest = CompiledForest(booster, _continuous(x.shape[1]))
    clean = x[~np.isnan(x[:, 0])]
    got = forest.raw_score([clean[:, j] for j in range(clean.shape[1])])
    np.testing.assert_allclose(got, booster.predict(clean, raw_score=True), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="NaN"):
        forest.raw_score([x[:, j] for j in range(x.shape[1])])


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"num_leaves": 9, "min_data_in_leaf": 2}, "leaves"),
        ({"zero_as_missing": True}, "missing type"),
        ({"boosting": "rf", "bagging_fraction": 0.5, "bagging_freq": 1}, "random-forest"),
        ({"objective": "multiclass", "num_class": 3}, "multi-class"),
    ],
)
def test_forests_it_cannot_express_exactly_are_refused(params: dict[str, Any], reason: str) -> None:
    x, y = _data()
    if params.get("objective") == "multiclass":
        y = np.argmax(x[:, 4:], axis=1)
    with pytest.raises(UnsupportedForestError, match=reason):
        CompiledForest(_booster(x, y, rounds=20, **params), _continuous(x.shape[1]))


def test_categorical_splits_are_refused() -> None:
    x, y = _data()
    data = np.column_stack([x[:, :4], np.argmax(x[:, 4:], axis=1)])
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "min_data_per_group": 5, "cat_smooth": 1},
        lgb.Dataset(data, y, categorical_feature=[4]),
        num_boost_round=20,
    )
    with pytest.raises(UnsupportedForestError, match="split type"):
        CompiledForest(booster, _continuous(5))


def test_inputs_must_cover_every_split_column_once() -> None:
    x, y = _data()
    booster = _booster(x, y, rounds=20)
    with pytest.raises(ValueError, match="fed by no input"):
        CompiledForest(booster, _continuous(3))
    with pytest.raises(ValueError, match="repeats"):
        CompiledForest(booster, [*_continuous(x.shape[1]), ForestInput((0,))])
    with pytest.raises(ValueError, match="one column"):
        CompiledForest(booster, [ForestInput((0, 1)), *_continuous(x.shape[1])[2:]])
    forest = CompiledForest(booster, _continuous(x.shape[1]))
    with pytest.raises(ValueError, match="expected 7 input arrays"):
        forest.raw_score([x[:, 0]])
