"""Training: fit the full pipeline reproducibly, choose calibration and threshold on train only.

:func:`fit_model` is pure (frames in, fitted model out). The decision threshold and the choice
to calibrate are made on out-of-fold predictions of the TRAIN split, so validation and test data
never influence the model; they are only scored afterwards.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from churnguard.config import ChurnguardConfig
from churnguard.data.schema import TARGET_COLUMN
from churnguard.models.estimators import build_model_pipeline, estimator_params
from churnguard.models.threshold import ThresholdChoice, choose_threshold

Calibration = Literal["none", "sigmoid", "isotonic"]
_CALIBRATION_FOLDS = 3


@dataclass(frozen=True)
class FittedModel:
    """A fitted churnguard model and the decisions made while fitting it."""

    model: Any
    estimator: str
    params: dict[str, Any]
    calibration: Calibration
    threshold: ThresholdChoice
    oof_brier: dict[str, float] = field(default_factory=dict)
    oof_proba: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Churn probability of each row of a processed frame."""
        return np.asarray(self.model.predict_proba(frame)[:, 1], dtype=np.float64)


def seed_everything(seed: int) -> None:
    """Seed Python's and numpy's global generators (estimators get ``random_state`` too)."""
    random.seed(seed)
    np.random.seed(seed)  # some third-party code still reads numpy's global state


def _folds(n_splits: int, seed: int) -> StratifiedKFold:
    return StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)


def _calibrated(base: Any, method: Calibration) -> Any:
    if method == "none":
        return clone(base)
    # An integer cv (unshuffled stratified folds, deterministic) keeps the fitted model free of
    # splitter objects, so it serializes within the skops allow-list.
    return CalibratedClassifierCV(clone(base), method=method, cv=_CALIBRATION_FOLDS, ensemble=False)


def _oof(model: Any, x: pd.DataFrame, y: pd.Series, folds: StratifiedKFold) -> np.ndarray:
    return np.asarray(
        cross_val_predict(model, x, y, cv=folds, method="predict_proba")[:, 1], dtype=np.float64
    )


def fit_model(
    train: pd.DataFrame, config: ChurnguardConfig, tuned: Mapping[str, Any] | None = None
) -> FittedModel:
    """Fit the configured pipeline on ``train``; pick calibration and threshold out of fold.

    Args:
        train: The processed TRAIN split (with the ``Churn`` target).
        config: The whole configuration (features, model, threshold).
        tuned: Tuned hyperparameters replacing the configured ones.
    """
    seed = config.model.seed
    seed_everything(seed)
    y = train[TARGET_COLUMN]
    base = build_model_pipeline(config.features, config.model, overrides=tuned)
    folds = _folds(config.model.cv_folds, seed)
    methods: tuple[Calibration, ...] = (
        ("none", "sigmoid", "isotonic")
        if config.model.calibration == "auto"
        else (config.model.calibration,)
    )
    oof = {method: _oof(_calibrated(base, method), train, y, folds) for method in methods}
    brier: dict[str, float] = {m: float(brier_score_loss(y, proba)) for m, proba in oof.items()}
    # Calibrate only when it strictly improves the out-of-fold Brier score.
    chosen = min(methods, key=lambda m: (brier[m], m != "none"))
    threshold = choose_threshold(y.to_numpy(), oof[chosen], config.threshold)
    model = _calibrated(base, chosen).fit(train, y)
    return FittedModel(
        model=model,
        estimator=config.model.estimator,
        params=estimator_params(config.model, tuned),
        calibration=chosen,
        threshold=threshold,
        oof_brier=brier,
        oof_proba=oof[chosen],
    )


__all__ = ["Calibration", "FittedModel", "fit_model", "seed_everything"]
