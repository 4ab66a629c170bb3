"""Hyperparameter search with Optuna: cross-validated ROC-AUC on the train split only.

Each trial fits the full model pipeline on the folds of the train frame it is given, so validation
and test data never influence the chosen parameters. The study lives in an RDB storage (a local
sqlite file by default): worker processes pointed at one PostgreSQL storage and study name search
together.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import mlflow
import numpy as np
import optuna
import pandas as pd
from lightgbm.basic import LightGBMError
from numpy.typing import NDArray
from optuna.storages import RDBStorage
from optuna.trial import TrialState
from pydantic import BaseModel, ConfigDict
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, ProgrammingError, SQLAlchemyError

from churnguard.config import ChurnguardConfig
from churnguard.data.schema import TARGET_COLUMN
from churnguard.errors import ConfigError, DataValidationError
from churnguard.models.config import EstimatorName, SearchParam
from churnguard.models.estimators import build_model_pipeline
from churnguard.models.search_space import (
    ParamValue,
    configured_start,
    suggest_params,
    validate_search_space,
)

#: Where the study lives when neither the caller nor ``tuning.storage`` names a storage.
DEFAULT_STORAGE = "sqlite:///optuna.db"
_CONNECT_TIMEOUT_SECONDS = 10
_CONNECT_ATTEMPTS = 3
#: Errors of one trial's sampled values (an estimator rejecting them); the study carries on.
_TRIAL_ERRORS: tuple[type[Exception], ...] = (ValueError, LightGBMError)

Folds = list[tuple[NDArray[np.intp], NDArray[np.intp]]]
FoldRecorder = Callable[[int, float, float], None]


class TuningResult(BaseModel):
    """The outcome of a search, written as JSON beside the trained model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    estimator: EstimatorName
    best_params: dict[str, ParamValue]
    best_value: float
    n_trials: int
    n_pruned: int
    study_name: str
    storage: str
    duration_seconds: float


def tune_hyperparameters(
    train: pd.DataFrame,
    config: ChurnguardConfig,
    *,
    n_trials: int | None = None,
    timeout: float | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    log_to_mlflow: bool = True,
) -> TuningResult:
    """Search the configured space for the parameters with the best cross-validated ROC-AUC.

    The study is created, or joined when it exists, so workers sharing a storage and study name
    search together (each runs its own ``n_trials``); the best trial may come from another worker
    or an earlier run of the same study. A fresh study run by one worker is reproducible.

    Args:
        train: The processed train split (with ``Churn``): the only data the search sees.
        config: Uses ``model`` (estimator, seed, fixed params), ``tuning`` and ``features``.
        n_trials: Trials this call runs; ``tuning.n_trials`` when omitted.
        timeout: Seconds after which no new trial starts; ``tuning.timeout_seconds`` when omitted.
        storage: Optuna RDB URL; ``tuning.storage``, else ``sqlite:///optuna.db`` in the CWD.
        study_name: Study to create or join; ``tuning.study_name`` when omitted.
        log_to_mlflow: Log each trial as a nested run of the active MLflow run, if there is one.

    Raises:
        ConfigError: invalid search space, unreachable storage, or no trial completed.
        DataValidationError: ``train`` lacks ``Churn`` or has too few customers of a class.
    """
    started = time.perf_counter()
    tuning = config.tuning
    space = validate_search_space(tuning.search_space, config.model.estimator)
    folds = _stratified_folds(train, tuning.cv_folds, config.model.seed)
    url = storage or tuning.storage or DEFAULT_STORAGE
    log_trials = log_to_mlflow and mlflow.active_run() is not None
    objective = _cv_objective(train, config, space, folds, log_trials=log_trials)
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
        if tuning.pruning
        else optuna.pruners.NopPruner()
    )
    with _quiet_optuna():
        rdb = _connect(url)
        try:  # the engine's connections are closed whatever happens
            study = optuna.create_study(
                storage=rdb,
                pruner=pruner,
                study_name=study_name or tuning.study_name,
                direction="maximize",
                load_if_exists=True,
            )
            # With the bare seed, a resumed or joined study would repeat the random start-up
            # samples of the trials already in it; a fresh study keeps tuning.sampler_seed.
            seed = tuning.sampler_seed + len(study.get_trials(deepcopy=False))
            study.sampler = optuna.samplers.TPESampler(seed=seed)
            if not study.get_trials(deepcopy=False):
                # Warm start: the configured params are the first trial, so tuning only moves
                # away from them when cross-validation says something is better.
                study.enqueue_trial(configured_start(config, space))
            study.optimize(
                objective,
                n_trials=tuning.n_trials if n_trials is None else n_trials,
                timeout=tuning.timeout_seconds if timeout is None else timeout,
                catch=_TRIAL_ERRORS,
            )
            result = _summarise(study, config.model.estimator, _display_url(url), started)
        finally:
            rdb.remove_session()
            rdb.engine.dispose()
    if log_trials:
        mlflow.log_metric("best_value", result.best_value)
        mlflow.log_params({f"best_{name}": value for name, value in result.best_params.items()})
    return result


def _stratified_folds(train: pd.DataFrame, n_folds: int, seed: int) -> Folds:
    if TARGET_COLUMN not in train.columns:
        msg = f"the train frame has no '{TARGET_COLUMN}' column: pass the processed train split"
        raise DataValidationError(msg)
    rarest = int(train[TARGET_COLUMN].value_counts().reindex([0, 1], fill_value=0).min())
    if rarest < n_folds:
        msg = f"the train frame has {rarest} customers of a '{TARGET_COLUMN}' class, fewer than tuning.cv_folds={n_folds}: use more data or fewer folds"
        raise DataValidationError(msg)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return list(splitter.split(train, train[TARGET_COLUMN]))


def _cv_objective(
    train: pd.DataFrame,
    config: ChurnguardConfig,
    space: Mapping[str, SearchParam],
    folds: Folds,
    *,
    log_trials: bool,
) -> Callable[[optuna.Trial], float]:
    features = train.drop(columns=[TARGET_COLUMN])
    target = train[TARGET_COLUMN]

    def objective(trial: optuna.Trial) -> float:
        params = suggest_params(trial, space)
        aucs: list[float] = []
        with _trial_run(trial, params, enabled=log_trials) as record:
            for step, (fit_rows, eval_rows) in enumerate(folds):
                pipeline = build_model_pipeline(config.features, config.model, overrides=params)
                try:
                    pipeline.fit(features.iloc[fit_rows], target.iloc[fit_rows])
                    scores = pipeline.predict_proba(features.iloc[eval_rows])[:, 1]
                except _TRIAL_ERRORS as exc:
                    # Kept on the trial so "no trial completed" can say why.
                    trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
                    raise
                aucs.append(float(roc_auc_score(target.iloc[eval_rows], scores)))
                mean_auc = float(np.mean(aucs))
                record(step, aucs[-1], mean_auc)
                trial.report(mean_auc, step)
                if trial.should_prune():
                    msg = f"mean ROC-AUC {mean_auc:.4f} after {step + 1} folds trails the median"
                    raise optuna.TrialPruned(msg)
        return float(np.mean(aucs))

    return objective


@contextmanager
def _trial_run(
    trial: optuna.Trial, params: Mapping[str, ParamValue], *, enabled: bool
) -> Iterator[FoldRecorder]:
    """A nested MLflow run for one trial, tagged with how the trial ended."""
    if not enabled:
        yield lambda step, fold_auc, mean_auc: None
        return

    def record(step: int, fold_auc: float, mean_auc: float) -> None:
        mlflow.log_metrics({"cv_fold_auc": fold_auc, "cv_auc_mean": mean_auc}, step=step)

    parent = mlflow.active_run()
    experiment_id = parent.info.experiment_id if parent else None  # the parent's, not the default
    mlflow.start_run(run_name=f"trial-{trial.number}", nested=True, experiment_id=experiment_id)
    mlflow.log_params(dict(params))
    state, status = "failed", "FAILED"
    try:
        yield record
        state, status = "complete", "FINISHED"
    except optuna.TrialPruned:
        state, status = "pruned", "FINISHED"
        raise
    finally:
        mlflow.set_tags({"trial_state": state, "optuna_trial_number": trial.number})
        mlflow.end_run(status=status)


def _connect(url: str) -> RDBStorage:
    """Open the Optuna storage at ``url``, creating its tables when they do not exist yet."""
    parsed = _parse_url(url)
    postgres = parsed is not None and parsed.get_backend_name() == "postgresql"
    engine_kwargs = (
        {"connect_args": {"connect_timeout": _CONNECT_TIMEOUT_SECONDS}} if postgres else {}
    )
    attempt = 1
    while True:
        try:
            return RDBStorage(url, engine_kwargs=engine_kwargs)
        except (IntegrityError, ProgrammingError) as exc:
            # Workers starting together on an empty database race to create Optuna's tables;
            # the losers find them in place on the next attempt.
            if attempt == _CONNECT_ATTEMPTS:
                raise _storage_error(url, exc) from None
            time.sleep(0.5 * attempt)
            attempt += 1
        except (SQLAlchemyError, ImportError) as exc:
            # The driver's traceback adds nothing to the message and may show connection details.
            raise _storage_error(url, exc) from None


def _storage_error(url: str, exc: Exception) -> ConfigError:
    reason = (str(getattr(exc, "orig", None) or exc).strip() or type(exc).__name__).splitlines()[0]
    parsed = _parse_url(url)
    if parsed is not None and parsed.password:
        reason = reason.replace(str(parsed.password), "***")
    return ConfigError(
        f"cannot open the Optuna storage {_display_url(url)} ({reason}): check that the database "
        "server is running and reachable and that the URL, user and password are right, or set "
        "tuning.storage (CHURNGUARD_TUNING_STORAGE) to another database"
    )


def _parse_url(url: str) -> URL | None:
    try:
        return make_url(url)
    except ArgumentError:
        return None


def _display_url(url: str) -> str:
    """``url`` with its password masked (unchanged when it is not a database URL)."""
    parsed = _parse_url(url)
    return url if parsed is None else parsed.render_as_string(hide_password=True)


def _summarise(
    study: optuna.Study, estimator: EstimatorName, url: str, started: float
) -> TuningResult:
    trials = study.get_trials(deepcopy=False)
    counts = {state: sum(trial.state == state for trial in trials) for state in TrialState}
    if counts[TrialState.COMPLETE] == 0:
        errors = [trial.user_attrs["error"] for trial in trials if "error" in trial.user_attrs]
        cause = f"; last error: {errors[-1]}" if errors else ""
        msg = (
            f"no trial of study '{study.study_name}' in {url} completed ({counts[TrialState.PRUNED]} "
            f"pruned, {counts[TrialState.FAIL]} failed{cause}): fix tuning.search_space, raise "
            "tuning.n_trials or tuning.timeout_seconds, or set tuning.pruning: false"
        )
        raise ConfigError(msg)
    return TuningResult(
        estimator=estimator,
        best_params=study.best_params,
        best_value=study.best_value,
        n_trials=counts[TrialState.COMPLETE],
        n_pruned=counts[TrialState.PRUNED],
        study_name=study.study_name,
        storage=url,
        duration_seconds=round(time.perf_counter() - started, 3),
    )


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna logs every trial at INFO; keep WARNING (failures) and restore the caller's level."""
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)


__all__ = [
    "DEFAULT_STORAGE",
    "TuningResult",
    "suggest_params",
    "tune_hyperparameters",
    "validate_search_space",
]
