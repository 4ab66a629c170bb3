"""The model jobs: tune → train → evaluate → promote (and rollback), with their files.

Files: ``models/best_params.json`` (tuning), ``models/train_result.json`` (the last run and its
registered version), ``reports/evaluation/`` (metrics, slices, plots of the challenger on the
test split) and ``reports/promotion.json`` (the gate's decision). MLflow holds the runs and the
registry; ``models/model_registry.json`` the audit history.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import mlflow

from churnguard.config import ChurnguardConfig
from churnguard.data.preprocess import SplitFrames
from churnguard.errors import PipelineStateError
from churnguard.io import write_model_json, write_text_atomic
from churnguard.jobs.data import REFERENCE_PROFILE, SPLIT_SUMMARY, SplitSummary, load_split
from churnguard.models.evaluate import EvaluationReport
from churnguard.models.registry import (
    HistoryEntry,
    PromotionDecision,
    VersionSummary,
    list_versions,
    promote,
    register_challenger,
    rollback,
)
from churnguard.models.run import TrainResult, train_and_log, write_evaluation
from churnguard.models.tracking import config_hash, configure_mlflow, load_model, provenance_tags
from churnguard.models.tune import TuningResult, tune_hyperparameters

logger = logging.getLogger(__name__)

BEST_PARAMS = Path("models/best_params.json")
TRAIN_RESULT = Path("models/train_result.json")
EVALUATION_DIR = "evaluation"
METRICS_FILE = "metrics.json"
PROMOTION_FILE = "promotion.json"


def _splits(config: ChurnguardConfig) -> SplitFrames:
    return SplitFrames(*(load_split(config, name) for name in ("train", "validation", "test")))


def _data_sha256(config: ChurnguardConfig) -> str:
    path = config.paths.processed_dir / SPLIT_SUMMARY
    if not path.is_file():
        msg = f"{path} is missing: run `churnguard preprocess` first"
        raise PipelineStateError(msg)
    return SplitSummary.model_validate_json(path.read_text(encoding="utf-8")).raw_sha256


def run_tune(
    config: ChurnguardConfig,
    n_trials: int | None = None,
    storage: str | None = None,
    study_name: str | None = None,
) -> TuningResult:
    """Tune on the train split (cross-validated) and write the best params.

    Without an explicit study name, the study is named after the data and the settings that
    shape the search, so changed data or a changed search space start a fresh study while
    re-running the same one resumes it (adding trials).
    """
    train = load_split(config, "train")
    data_sha256 = _data_sha256(config)
    if study_name is None:
        shaping = {"data": data_sha256} | config.model_dump(
            mode="json", include={"model", "tuning", "features"}
        )
        study_name = f"{config.tuning.study_name}-{config_hash(shaping)[:12]}"
    configure_mlflow(config.mlflow)
    with mlflow.start_run(run_name=f"tune-{config.model.estimator}"):
        tags = provenance_tags(data_sha256, config.model_dump(mode="json"))
        mlflow.set_tags(tags | {"stage": "tune", "study_name": study_name})
        result = tune_hyperparameters(
            train, config, n_trials=n_trials, storage=storage, study_name=study_name
        )
    write_model_json(BEST_PARAMS, result)
    logger.info("tuned", extra={"best_value": result.best_value, "trials": result.n_trials})
    return result


def tuned_params(config: ChurnguardConfig) -> dict[str, Any] | None:
    """The tuned params to train with, or None (tuning off, not run, or for another estimator)."""
    if not config.tuning.enabled or not BEST_PARAMS.is_file():
        return None
    result = TuningResult.model_validate_json(BEST_PARAMS.read_text(encoding="utf-8"))
    if result.estimator != config.model.estimator:
        logger.warning(
            "ignoring tuned params of another estimator", extra={"tuned": result.estimator}
        )
        return None
    return dict(result.best_params)


def run_train(config: ChurnguardConfig) -> TrainResult:
    """Train, log the run to MLflow, register the model as the challenger, write the result."""
    splits = _splits(config)
    data_sha256 = _data_sha256(config)
    profile = config.paths.features_dir / REFERENCE_PROFILE
    _, result = train_and_log(config, splits, data_sha256, tuned_params(config), profile)
    version = register_challenger(
        result.model_uri, result.run_id, result.metrics, data_sha256, config
    )
    result = result.model_copy(update={"registered_version": version})
    write_model_json(TRAIN_RESULT, result)
    logger.info("trained", extra={"run_id": result.run_id, "version": version})
    return result


def run_evaluate(config: ChurnguardConfig, model_uri: str | None = None) -> EvaluationReport:
    """Evaluate a registered model (default: the challenger) on the test split; write reports."""
    configure_mlflow(config.mlflow)
    uri = model_uri or f"models:/{config.registry.model_name}@challenger"
    loaded = load_model(uri)
    threshold = float(loaded.metadata.get("threshold", 0.5))
    out = config.paths.reports_dir
    report = write_evaluation(
        loaded.model, load_split(config, "test"), threshold, config, out / EVALUATION_DIR
    )
    flat = {"threshold": threshold, **report.metrics, "expected_profit": report.expected_profit}
    write_text_atomic(out / METRICS_FILE, json.dumps(flat, indent=2, sort_keys=True) + "\n")
    return report


def run_promote(config: ChurnguardConfig) -> PromotionDecision:
    """Run the quality gate on the challenger and write the decision."""
    configure_mlflow(config.mlflow)
    decision = promote(config, load_split(config, "train"), load_split(config, "test"))
    write_model_json(config.paths.reports_dir / PROMOTION_FILE, decision)
    return decision


def run_rollback(config: ChurnguardConfig) -> HistoryEntry:
    """Put the previous champion back."""
    configure_mlflow(config.mlflow)
    return rollback(config)


def run_list(config: ChurnguardConfig) -> list[VersionSummary]:
    """Every registered version with its aliases and gate decision."""
    configure_mlflow(config.mlflow)
    return list_versions(config)


__all__ = [
    "BEST_PARAMS",
    "TRAIN_RESULT",
    "run_evaluate",
    "run_list",
    "run_promote",
    "run_rollback",
    "run_train",
    "run_tune",
    "tuned_params",
]
