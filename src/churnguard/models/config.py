"""Configuration sections of the model stages (``configs/model_config.yaml``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

EstimatorName = Literal["lightgbm", "logistic", "blend"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MlflowConfig(_Section):
    """Where runs and registered models live.

    The embedded default is a sqlite database plus a local artifact folder (no server). Set
    ``CHURNGUARD_MLFLOW_TRACKING_URI=http://host:5000`` to use an ``mlflow server``.
    """

    tracking_uri: str = "sqlite:///mlflow.db"
    registry_uri: str | None = None
    artifact_location: str = "mlruns"
    experiment: str = "churnguard"


class ModelConfig(_Section):
    """The estimator and its fixed hyperparameters (tuning may replace them)."""

    estimator: EstimatorName = "blend"
    seed: int = 42
    lightgbm: dict[str, Any] = Field(
        default_factory=lambda: {
            "n_estimators": 600,
            "learning_rate": 0.02,
            "num_leaves": 4,
            "min_child_samples": 50,
            "subsample": 0.8,
            "subsample_freq": 1,
            "colsample_bytree": 0.5,
            "reg_lambda": 5.0,
        }
    )
    logistic: dict[str, Any] = Field(default_factory=lambda: {"C": 1.0, "max_iter": 2000})
    #: The blend uses the logistic and lightgbm params above, plus these (e.g. its weight).
    blend: dict[str, Any] = Field(default_factory=lambda: {"weight": 0.5})
    calibration: Literal["auto", "none", "sigmoid", "isotonic"] = "auto"
    cv_folds: Annotated[int, Field(ge=2, le=20)] = 5


class SearchParam(_Section):
    """One dimension of the tuning search space."""

    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list[str | int | float | bool | None] | None = None

    @model_validator(mode="after")
    def _well_formed(self) -> Self:
        if self.type == "categorical":
            if not self.choices:
                msg = "a categorical search parameter needs a non-empty 'choices' list"
                raise ValueError(msg)
            return self
        if self.low is None or self.high is None or self.low >= self.high:
            msg = f"a {self.type} search parameter needs low < high, got low={self.low}, high={self.high}"
            raise ValueError(msg)
        if self.log and self.low <= 0:
            msg = f"a log-scale search parameter needs low > 0, got {self.low}"
            raise ValueError(msg)
        return self


class TuningConfig(_Section):
    """Optuna search: budget, cross-validation on the train split only, storage."""

    enabled: bool = True
    n_trials: Annotated[int, Field(ge=1)] = 25
    timeout_seconds: Annotated[float, Field(gt=0)] = 90.0
    cv_folds: Annotated[int, Field(ge=2, le=20)] = 5
    storage: str | None = None
    study_name: str = "churnguard"
    sampler_seed: int = 42
    pruning: bool = True
    search_space: dict[str, dict[str, SearchParam]] = Field(default_factory=dict)


class ThresholdConfig(_Section):
    """How the decision threshold is chosen on out-of-fold training predictions."""

    strategy: Literal["f1", "profit"] = "f1"
    offer_cost: Annotated[float, Field(ge=0)] = 10.0
    saved_customer_value: Annotated[float, Field(gt=0)] = 200.0
    offer_success_rate: Annotated[float, Field(gt=0, le=1)] = 0.3


class GateConfig(_Section):
    """The quality gate a challenger must pass to become champion."""

    metric: Literal["roc_auc", "pr_auc"] = "roc_auc"
    margin: Annotated[float, Field(ge=0)] = 0.002
    min_auc: Annotated[float, Field(ge=0.5, le=1)] = 0.75
    max_invariance_delta: Annotated[float, Field(gt=0)] = 0.02


class RegistryConfig(_Section):
    """The registered model and its audit history."""

    model_name: str = "churnguard"
    history_file: Path = Path("models/model_registry.json")


__all__ = [
    "EstimatorName",
    "GateConfig",
    "MlflowConfig",
    "ModelConfig",
    "RegistryConfig",
    "SearchParam",
    "ThresholdConfig",
    "TuningConfig",
]
