"""Estimators and the full model pipeline (features + classifier) that is trained and logged.

The pipeline takes processed customer records (``churnguard.data.preprocess`` contract) and
computes its own features, so the logged model serves raw records exactly as it was trained.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightgbm import LGBMClassifier
from sklearn.base import ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from churnguard.errors import ConfigError
from churnguard.features import FeatureConfig, build_feature_pipeline
from churnguard.models.blend import LogOddsBlend
from churnguard.models.config import EstimatorName, ModelConfig

#: Settings that make LightGBM bit-for-bit reproducible and quiet, whatever the tuned params.
_LIGHTGBM_FIXED: dict[str, Any] = {
    "deterministic": True,
    "force_row_wise": True,
    "n_jobs": 1,
    "verbose": -1,
}


def _lightgbm(params: Mapping[str, Any], seed: int) -> ClassifierMixin:
    return LGBMClassifier(**{**params, **_LIGHTGBM_FIXED, "random_state": seed})


def _logistic(params: Mapping[str, Any], seed: int) -> ClassifierMixin:
    return LogisticRegression(**{"max_iter": 2000, **params, "random_state": seed})


def _nested(params: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    return {k.removeprefix(prefix): v for k, v in params.items() if k.startswith(prefix)}


def _blend(params: Mapping[str, Any], seed: int) -> ClassifierMixin:
    own = {k: v for k, v in params.items() if "__" not in k}
    return LogOddsBlend(
        logistic=_logistic(_nested(params, "logistic__"), seed),
        lightgbm=_lightgbm(_nested(params, "lightgbm__"), seed),
        **own,
    )


_BUILDERS = {"lightgbm": _lightgbm, "logistic": _logistic, "blend": _blend}


def build_estimator(
    name: EstimatorName | str, params: Mapping[str, Any], seed: int
) -> ClassifierMixin:
    """Return an unfitted classifier.

    Raises:
        ConfigError: the name is unknown or a parameter is not one the estimator accepts.
    """
    builder = _BUILDERS.get(name)
    if builder is None:
        msg = f"unknown estimator '{name}': set model.estimator to one of {', '.join(_BUILDERS)}"
        raise ConfigError(msg)
    estimator = builder({}, seed)
    unknown = sorted(set(params) - set(estimator.get_params()))
    if unknown:
        msg = f"{name} does not accept parameter(s) {', '.join(unknown)}: fix model.{name} or tuning.search_space.{name}"
        raise ConfigError(msg)
    return builder(params, seed)


def estimator_params(
    model: ModelConfig,
    overrides: Mapping[str, Any] | None = None,
    estimator: EstimatorName | None = None,
) -> dict[str, Any]:
    """The configured params of an estimator (default: the chosen one), ``overrides`` on top.

    The blend's params are its own (``weight``) plus the logistic and LightGBM params prefixed
    ``logistic__`` and ``lightgbm__``, as scikit-learn names nested parameters.
    """
    name = estimator or model.estimator
    if name == "blend":
        base = {f"logistic__{k}": v for k, v in model.logistic.items()}
        base |= {f"lightgbm__{k}": v for k, v in model.lightgbm.items()}
        base |= model.blend
    else:
        base = dict(getattr(model, name))
    return {**base, **(overrides or {})}


def build_model_pipeline(
    features: FeatureConfig,
    model: ModelConfig,
    overrides: Mapping[str, Any] | None = None,
    estimator: EstimatorName | None = None,
) -> Pipeline:
    """Features followed by the classifier: the object that is fitted, logged and served.

    Args:
        features: Feature pipeline settings.
        model: Estimator choice, params and seed.
        overrides: Tuned params replacing the configured ones.
        estimator: Another estimator than ``model.estimator`` (e.g. the logistic baseline).
    """
    name = estimator or model.estimator
    classifier = build_estimator(name, estimator_params(model, overrides, name), model.seed)
    return Pipeline([("features", build_feature_pipeline(features)), ("classifier", classifier)])


__all__ = ["build_estimator", "build_model_pipeline", "estimator_params"]
