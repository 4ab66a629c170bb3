from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.special import logit

from churnguard.config import load_config
from churnguard.data.preprocess import SplitFrames, preprocess_data
from churnguard.data.synthetic import generate_customers
from churnguard.models.estimators import build_model_pipeline
from churnguard.models.explain import (
    contributions,
    encoded_features,
    global_importance,
    unwrap_pipeline,
)
from churnguard.models.train import fit_model

pytestmark = pytest.mark.unit
CONFIG = load_config(Path(__file__).resolve().parents[2] / "configs" / "config.yaml", use_env=False)


@pytest.fixture(scope="module")
def splits() -> SplitFrames:
    return preprocess_data(generate_customers(2000, seed=21))


@pytest.mark.parametrize("estimator", ["lightgbm", "logistic"])
def test_contributions_add_up_to_the_log_odds(splits: SplitFrames, estimator: str) -> None:
    pipeline = build_model_pipeline(
        CONFIG.features,
        CONFIG.model,
        {"n_estimators": 50} if estimator == "lightgbm" else None,
        estimator,
    )
    pipeline.fit(splits.train, splits.train["Churn"])
    values, base = contributions(pipeline, splits.test)
    log_odds = logit(pipeline.predict_proba(splits.test)[:, 1])
    assert np.allclose(values.sum(axis=1).to_numpy() + base, log_odds, atol=1e-9)
    assert list(values.columns) == list(encoded_features(pipeline, splits.test).columns)


def test_global_importance_ranks_features_by_mean_absolute_shap(splits: SplitFrames) -> None:
    pipeline = build_model_pipeline(CONFIG.features, CONFIG.model, {"n_estimators": 50}, "lightgbm")
    pipeline.fit(splits.train, splits.train["Churn"])
    table = global_importance(pipeline, splits.test)
    assert list(table.columns) == ["feature", "mean_abs_shap", "importance"]
    assert table["mean_abs_shap"].is_monotonic_decreasing
    top = set(table["feature"].head(8))
    assert top & {"Contract_Month-to-month", "tenure", "is_month_to_month", "avg_monthly_spend"}


def test_unwrap_finds_the_pipeline_inside_a_calibrated_model(splits: SplitFrames) -> None:
    model = CONFIG.model.model_copy(
        update={"calibration": "sigmoid", "cv_folds": 3, "estimator": "lightgbm"}
    )
    fitted = fit_model(
        splits.train, CONFIG.model_copy(update={"model": model}), {"n_estimators": 30}
    )
    inner = unwrap_pipeline(fitted.model)
    assert set(inner.named_steps) == {"features", "classifier"}
    assert len(global_importance(fitted.model, splits.test)) == len(
        encoded_features(inner, splits.test).columns
    )


def test_unwrap_rejects_other_objects() -> None:
    with pytest.raises(TypeError, match="not a churnguard model"):
        unwrap_pipeline(object())
