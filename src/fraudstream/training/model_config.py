"""Configuration sections of the model stages: the protocol, the estimator, tuning."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EstimatorName = Literal["lightgbm", "logistic"]
ClassWeight = Literal["auto", "none", "balanced"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelConfig(_Section):
    """The estimator, its fixed hyperparameters (tuning may replace them) and the alert budget."""

    estimator: EstimatorName = "lightgbm"
    seed: int = 0
    #: Cards an investigation team checks a day: the k of CP@k and the decision threshold's budget.
    alert_budget_k: Annotated[int, Field(ge=1, le=100_000)] = 100
    #: ``auto`` compares no weighting with balanced class weights on the validation folds and
    #: keeps the better; ``none`` / ``balanced`` fix the choice.
    class_weight: ClassWeight = "auto"
    lightgbm: dict[str, Any] = Field(
        default_factory=lambda: {
            "n_estimators": 1000,
            "learning_rate": 0.02,
            "num_leaves": 7,
            "min_child_samples": 50,
            "max_bin": 1023,
            "reg_lambda": 5.0,
            "colsample_bytree": 0.7,
        }
    )
    logistic: dict[str, Any] = Field(default_factory=lambda: {"C": 1.0, "max_iter": 2000})


class TuningConfig(_Section):
    """Optuna search on the prequential folds (never on test days)."""

    enabled: bool = True
    n_trials: Annotated[int, Field(ge=1, le=10_000)] = 8
    #: Stop starting trials after this long; ``None`` (default) keeps the search deterministic:
    #: a time limit makes the number of trials depend on the machine's speed.
    timeout_seconds: Annotated[float, Field(gt=0)] | None = None
    sampler_seed: int = 0
    #: The largest LightGBM forests the search tries (trees, leaves per tree): the search's cost.
    max_estimators: Annotated[int, Field(ge=20, le=5000)] = 800
    max_leaves: Annotated[int, Field(ge=4, le=1024)] = 31


__all__ = ["ClassWeight", "EstimatorName", "ModelConfig", "TuningConfig"]
