"""Model selection on prequential folds: Optuna for the hyperparameters, evidence for weighting.

A candidate (estimator, parameters, class weighting) is fitted on each fold's training window
and scored on that fold's test window (:meth:`ProtocolConfig.validation_folds`: the real
training window, then further back). Its score is the mean over folds of average precision plus
CP@k — the two numbers the registry's gate compares. No fold sees a test day.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import mlflow
import numpy as np
import optuna
from pydantic import BaseModel, ConfigDict
from sklearn.metrics import average_precision_score

from fraudstream.training.estimators import Weighting, build_estimator, fit, fraud_probability
from fraudstream.training.metrics import card_precision_top_k
from fraudstream.training.model_config import EstimatorName, ModelConfig, TuningConfig
from fraudstream.training.protocol import Split
from fraudstream.transactions.contract import TX_FRAUD

logger = logging.getLogger(__name__)

ParamValue = int | float | str | bool


class FoldScores(BaseModel):
    """A candidate's mean validation scores and each fold's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    average_precision: float
    card_precision_top_k: float
    per_fold: list[tuple[float, float]]

    @property
    def objective(self) -> float:
        """What the search maximises: mean AP + mean CP@k."""
        return self.average_precision + self.card_precision_top_k


class TuningResult(BaseModel):
    """The chosen candidate, and how it was chosen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    estimator: EstimatorName
    params: dict[str, ParamValue]
    weighting: Weighting
    scores: FoldScores
    weighting_scores: dict[str, float]
    trials: int


@dataclass(frozen=True)
class Candidate:
    """One estimator configuration to score."""

    estimator: EstimatorName
    params: Mapping[str, Any]
    weighting: Weighting


def score_on_folds(
    candidate: Candidate, folds: list[Split], seed: int, k: int, trial: optuna.Trial | None = None
) -> FoldScores:
    """Fit ``candidate`` on each fold's train window and score it on the fold's test window."""
    per_fold: list[tuple[float, float]] = []
    for number, fold in enumerate(folds):
        model = build_estimator(candidate.estimator, candidate.params, candidate.weighting, seed)
        fit(model, fold.train, fold.train[TX_FRAUD])
        scores = fraud_probability(model, fold.test)
        per_fold.append(
            (
                float(average_precision_score(fold.test[TX_FRAUD], scores)),
                card_precision_top_k(fold.test, scores, k),
            )
        )
        if trial is not None:
            trial.report(float(np.mean([sum(pair) for pair in per_fold])), number)
            if trial.should_prune():
                raise optuna.TrialPruned
    return FoldScores(
        average_precision=float(np.mean([ap for ap, _ in per_fold])),
        card_precision_top_k=float(np.mean([cp for _, cp in per_fold])),
        per_fold=per_fold,
    )


def _suggest(
    trial: optuna.Trial, estimator: EstimatorName, tuning: TuningConfig
) -> dict[str, ParamValue]:
    if estimator == "logistic":
        return {"C": trial.suggest_float("C", 1e-3, 100.0, log=True), "max_iter": 2000}
    fewest = min(100, tuning.max_estimators)
    return {
        "n_estimators": trial.suggest_int("n_estimators", fewest, tuning.max_estimators, step=10),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 4, tuning.max_leaves, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 10, 300, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "subsample_freq": 1,
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
    }


@contextmanager
def _nested_run(name: str) -> Iterator[bool]:
    """A nested MLflow run when a run is active (else nothing is logged)."""
    if mlflow.active_run() is None:
        yield False
        return
    with mlflow.start_run(run_name=name, nested=True):
        yield True


def _log_candidate(params: Mapping[str, Any], scores: FoldScores | None) -> None:
    mlflow.log_params({f"param_{k}": v for k, v in params.items()})
    if scores is not None:
        mlflow.log_metrics(
            {
                "validation_average_precision": scores.average_precision,
                "validation_card_precision_top_k": scores.card_precision_top_k,
                "validation_objective": scores.objective,
            }
        )


def _search(
    folds: list[Split], model: ModelConfig, tuning: TuningConfig, weighting: Weighting
) -> tuple[dict[str, ParamValue], FoldScores, int]:
    def objective(trial: optuna.Trial) -> float:
        params = _suggest(trial, model.estimator, tuning)
        candidate = Candidate(model.estimator, params, weighting)
        with _nested_run(f"trial-{trial.number}") as logging_run:
            try:
                scores = score_on_folds(candidate, folds, model.seed, model.alert_budget_k, trial)
            except optuna.TrialPruned:
                if logging_run:
                    _log_candidate(params, None)
                    mlflow.set_tag("pruned", "true")
                raise
            if logging_run:
                _log_candidate(params, scores)
        trial.set_user_attr("scores", scores.model_dump())
        return scores.objective

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=tuning.sampler_seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1),
    )
    study.optimize(objective, n_trials=tuning.n_trials, timeout=tuning.timeout_seconds)
    best = study.best_trial
    params = {**_configured(model), **best.params}
    return params, FoldScores.model_validate(best.user_attrs["scores"]), len(study.trials)


def _configured(model: ModelConfig) -> dict[str, ParamValue]:
    return dict(model.lightgbm if model.estimator == "lightgbm" else model.logistic)


def select_model(folds: list[Split], model: ModelConfig, tuning: TuningConfig) -> TuningResult:
    """Choose the class weighting on evidence, then (if enabled) tune the hyperparameters.

    Weighting is compared with the configured parameters on the folds (``class_weight: auto``)
    or taken as configured; the search then runs with the chosen weighting.
    """
    started = time.perf_counter()
    options: list[Weighting] = (
        ["none", "balanced"] if model.class_weight == "auto" else [model.class_weight]
    )
    compared = {
        option: score_on_folds(
            Candidate(model.estimator, _configured(model), option),
            folds,
            model.seed,
            model.alert_budget_k,
        )
        for option in options
    }
    weighting = max(options, key=lambda option: compared[option].objective)
    params, scores, trials = _configured(model), compared[weighting], 0
    if tuning.enabled:
        searched, found, trials = _search(folds, model, tuning, weighting)
        # The configured parameters were scored above: the search only replaces them if it won.
        if found.objective > scores.objective:
            params, scores = searched, found
    logger.info(
        "selected the model",
        extra={
            "weighting": weighting,
            "objective": round(scores.objective, 4),
            "trials": trials,
            "seconds": round(time.perf_counter() - started, 1),
        },
    )
    return TuningResult(
        estimator=model.estimator,
        params=params,
        weighting=weighting,
        scores=scores,
        weighting_scores={option: s.objective for option, s in compared.items()},
        trials=trials,
    )


__all__ = ["Candidate", "FoldScores", "TuningResult", "score_on_folds", "select_model"]
