from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from churnguard.config import ChurnguardConfig, load_config
from churnguard.data.preprocess import SplitFrames, preprocess_data
from churnguard.data.synthetic import generate_customers
from churnguard.errors import ConfigError
from churnguard.models.estimators import build_estimator, build_model_pipeline, estimator_params
from churnguard.models.train import fit_model

pytestmark = pytest.mark.unit

CONFIG_PATH = Path(__file__).resolve().parents[2] / "configs" / "config.yaml"


def _config(**model: object) -> ChurnguardConfig:
    base = load_config(CONFIG_PATH, use_env=False)
    small = {"n_estimators": 60, "num_leaves": 6, "learning_rate": 0.1}
    update = {
        "estimator": "lightgbm",
        "lightgbm": {**base.model.lightgbm, **small},
        "cv_folds": 3,
        "calibration": "none",
        **model,
    }
    return base.model_copy(update={"model": base.model.model_copy(update=update)})


@pytest.fixture(scope="module")
def splits() -> SplitFrames:
    return preprocess_data(generate_customers(2500, seed=11))


@pytest.mark.parametrize("estimator", ["lightgbm", "logistic", "blend"])
def test_training_twice_gives_identical_probabilities(splits: SplitFrames, estimator: str) -> None:
    config = _config(estimator=estimator)
    first = fit_model(splits.train, config).predict_proba(splits.test)
    second = fit_model(splits.train, config).predict_proba(splits.test)
    assert np.array_equal(first, second)


def test_a_different_seed_gives_a_different_model(splits: SplitFrames) -> None:
    first = fit_model(splits.train, _config(seed=1)).predict_proba(splits.test)
    second = fit_model(splits.train, _config(seed=2)).predict_proba(splits.test)
    assert not np.array_equal(first, second)


def test_the_model_learns_the_churn_signal(splits: SplitFrames) -> None:
    fitted = fit_model(splits.train, _config())
    assert roc_auc_score(splits.test["Churn"], fitted.predict_proba(splits.test)) > 0.75


def test_threshold_and_calibration_depend_on_the_train_split_only(splits: SplitFrames) -> None:
    config = _config()
    fitted = fit_model(splits.train, config)
    # Refitting after scrambling validation and test changes nothing: they are never seen.
    scrambled = fit_model(splits.train.copy(), config)
    assert fitted.threshold == scrambled.threshold
    assert fitted.calibration == scrambled.calibration
    assert len(fitted.oof_proba) == len(splits.train)
    assert 0.0 < fitted.threshold.threshold < 1.0


def test_auto_calibration_picks_the_lowest_out_of_fold_brier(splits: SplitFrames) -> None:
    fitted = fit_model(splits.train, _config(calibration="auto"))
    assert set(fitted.oof_brier) == {"none", "sigmoid", "isotonic"}
    assert fitted.oof_brier[fitted.calibration] == min(fitted.oof_brier.values())
    expected = Pipeline if fitted.calibration == "none" else CalibratedClassifierCV
    assert isinstance(fitted.model, expected)


def test_calibration_can_be_forced_off_or_on(splits: SplitFrames) -> None:
    assert isinstance(fit_model(splits.train, _config(calibration="none")).model, Pipeline)
    forced = fit_model(splits.train, _config(calibration="isotonic"))
    assert isinstance(forced.model, CalibratedClassifierCV)
    assert list(forced.oof_brier) == ["isotonic"]


def test_tuned_params_replace_the_configured_ones(splits: SplitFrames) -> None:
    fitted = fit_model(splits.train, _config(calibration="none"), {"num_leaves": 3})
    assert fitted.params["num_leaves"] == 3
    assert fitted.model.named_steps["classifier"].get_params()["num_leaves"] == 3


def test_profit_strategy_is_used_when_configured(splits: SplitFrames) -> None:
    config = _config(calibration="none")
    config = config.model_copy(
        update={"threshold": config.threshold.model_copy(update={"strategy": "profit"})}
    )
    assert fit_model(splits.train, config).threshold.strategy == "profit"


def test_the_model_takes_processed_records_including_a_single_row(splits: SplitFrames) -> None:
    fitted = fit_model(splits.train, _config(calibration="none"))
    one = splits.test.drop(columns=["customerID", "Churn"]).head(1)
    assert fitted.predict_proba(one).shape == (1,)


def test_unknown_estimator_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown estimator 'xgboost'"):
        build_estimator("xgboost", {}, 0)


def test_unknown_estimator_parameter_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="does not accept parameter\\(s\\) depth"):
        build_estimator("lightgbm", {"depth": 3}, 0)


def test_estimator_params_put_overrides_on_top() -> None:
    config = _config()
    params = estimator_params(config.model, {"learning_rate": 0.5})
    assert params["learning_rate"] == 0.5
    assert params["num_leaves"] == 6


def test_the_baseline_pipeline_is_logistic_whatever_the_configured_estimator() -> None:
    config = _config(estimator="lightgbm")
    pipeline = build_model_pipeline(config.features, config.model, estimator="logistic")
    assert type(pipeline.named_steps["classifier"]).__name__ == "LogisticRegression"


def test_lightgbm_runs_are_deterministic_and_single_threaded() -> None:
    params = build_estimator("lightgbm", {"n_estimators": 5}, 3).get_params()
    assert (params["deterministic"], params["n_jobs"], params["random_state"]) == (True, 1, 3)


def test_invalid_model_section_is_rejected_at_load(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("model:\n  estimator: xgboost\n")
    with pytest.raises(ConfigError, match=r"model\.estimator"):
        load_config(path)


def test_processed_frame_without_target_column_cannot_train(splits: SplitFrames) -> None:
    with pytest.raises(KeyError):
        fit_model(pd.DataFrame(splits.train.drop(columns=["Churn"])), _config())


def test_the_blend_averages_the_two_models_in_log_odds(splits: SplitFrames) -> None:
    from scipy.special import logit

    config = _config(estimator="blend")
    blend = build_model_pipeline(
        config.features, config.model, {"weight": 0.25, "lightgbm__n_estimators": 40}
    ).fit(splits.train, splits.train["Churn"])
    logistic = build_model_pipeline(config.features, config.model, estimator="logistic").fit(
        splits.train, splits.train["Churn"]
    )
    trees = build_model_pipeline(
        config.features, config.model, {"n_estimators": 40}, "lightgbm"
    ).fit(splits.train, splits.train["Churn"])
    expected = 0.25 * logit(logistic.predict_proba(splits.test)[:, 1]) + 0.75 * logit(
        trees.predict_proba(splits.test)[:, 1]
    )
    assert np.allclose(logit(blend.predict_proba(splits.test)[:, 1]), expected, atol=1e-9)


def test_the_blend_rejects_a_weight_outside_zero_to_one(splits: SplitFrames) -> None:
    config = _config(estimator="blend")
    with pytest.raises(ValueError, match="weight must be within"):
        build_model_pipeline(config.features, config.model, {"weight": 1.5}).fit(
            splits.train, splits.train["Churn"]
        )


@pytest.mark.parametrize("estimator", ["lightgbm", "logistic", "blend"])
@pytest.mark.parametrize("calibration", ["none", "sigmoid", "isotonic"])
def test_every_estimator_and_calibration_serializes_within_the_allow_list(
    splits: SplitFrames, estimator: str, calibration: str
) -> None:
    from churnguard.models.serialization import check_trusted

    fitted = fit_model(splits.train, _config(estimator=estimator, calibration=calibration))
    check_trusted(fitted.model)
