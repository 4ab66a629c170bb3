"""Exact contributions: bias + contributions = the model's log-odds, for both model kinds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fraudstream.training.explain import contributions, top_reasons


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(600, 4)), columns=["a", "b", "c", "d"])
    labels = (frame["a"] + 0.5 * frame["b"] ** 2 + rng.normal(scale=0.5, size=600) > 1).astype(int)
    return frame, labels.to_numpy()


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


@pytest.mark.unit
@pytest.mark.parametrize("kind", ["lightgbm", "logistic"])
def test_contributions_add_up_to_the_log_odds(
    kind: str, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, labels = data
    model = (
        LGBMClassifier(n_estimators=30, num_leaves=7, verbose=-1, n_jobs=1)
        if kind == "lightgbm"
        else make_pipeline(StandardScaler(), LogisticRegression())
    )
    model.fit(frame, labels)
    parts = contributions(model, frame)
    assert parts.shape == (len(frame), frame.shape[1] + 1)
    np.testing.assert_allclose(
        parts.sum(axis=1), _logit(model.predict_proba(frame)[:, 1]), rtol=0, atol=1e-9
    )
    # The stream passes the matrix of the same columns: the same numbers.
    assert np.array_equal(contributions(model, frame.to_numpy()), parts)


@pytest.mark.unit
def test_other_estimators_have_no_exact_contributions(
    data: tuple[pd.DataFrame, np.ndarray],
) -> None:
    frame, labels = data
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(frame, labels)
    with pytest.raises(TypeError, match="RandomForestClassifier"):
        contributions(forest, frame)


@pytest.mark.unit
def test_top_reasons_are_the_largest_upward_contributions() -> None:
    names = ("a", "b", "c")
    reasons = top_reasons(names, np.array([1.0, 2.0, 3.0]), np.array([0.1, -2.0, 0.7, 5.0]), 2)
    assert [r.feature for r in reasons] == ["c", "a"]
    assert reasons[0].value == 3.0
    assert reasons[0].contribution == pytest.approx(0.7)
