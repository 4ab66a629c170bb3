"""A tracked training run: fit, evaluate on validation and test, log everything to MLflow.

Each run records the whole resolved configuration as params, metrics on both held-out splits,
evaluation plots and reports, feature importance and a global SHAP summary, the reference
profile, the drift reference (``drift_reference.json``: the train split's features and the
model's churn probabilities on the test split, a run artifact also stored inside the logged model
folder so it travels to the registry and to bundles), and the model itself (skops, signature,
input example, decision threshold in its metadata). A run that fails is marked FAILED by MLflow
and is never registered.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models.model import ModelInfo
from pydantic import BaseModel, ConfigDict

from churnguard.config import ChurnguardConfig
from churnguard.data.preprocess import SplitFrames
from churnguard.data.schema import FEATURE_COLUMNS, TARGET_COLUMN
from churnguard.io import write_model_json, write_text_atomic
from churnguard.models import plots
from churnguard.models.evaluate import EvaluationReport, evaluate_predictions, profit_curve
from churnguard.models.explain import global_importance
from churnguard.models.fastpath import encoded_mean
from churnguard.models.tracking import configure_mlflow, log_model, provenance_tags
from churnguard.models.train import FittedModel, fit_model
from churnguard.monitoring.reference import (
    DRIFT_REFERENCE_FILE,
    DriftReference,
    build_drift_reference,
)

logger = logging.getLogger(__name__)


class TrainResult(BaseModel):
    """What a training run produced (written to ``models/train_result.json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    model_uri: str
    registered_version: int | None
    estimator: str
    params: dict[str, Any]
    calibration: str
    threshold: float
    metrics: dict[str, float]
    data_sha256: str


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_\-]+$")


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Config as ``section.key`` params; maps keyed by free text (URLs) stay one JSON param."""
    flat: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and all(_PLAIN_KEY.match(str(k)) for k in value):
            flat |= _flatten(value, f"{name}.")
        else:
            text = json.dumps(value, default=str) if isinstance(value, Mapping) else str(value)
            flat[name] = text[:6000]
    return flat


def write_evaluation(
    model: Any, frame: pd.DataFrame, threshold: float, config: ChurnguardConfig, out_dir: Path
) -> EvaluationReport:
    """Score ``frame`` and write the report, slices, profit curve and plots into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    y = frame[TARGET_COLUMN].to_numpy()
    proba = model.predict_proba(frame)[:, 1]
    report = evaluate_predictions(
        frame, y, proba, threshold, config.threshold, config.features.tenure_bins
    )
    write_text_atomic(out_dir / "evaluation.json", report.model_dump_json(indent=2) + "\n")
    write_text_atomic(out_dir / "classification_report.txt", report.classification_report)
    report.slice_frame().to_csv(out_dir / "slices.csv", index=False)
    curve = profit_curve(y, proba, config.threshold)
    curve.to_csv(out_dir / "profit_curve.csv", index=False)
    figures = {
        "roc_curve.png": plots.roc_curve_figure(y, proba),
        "pr_curve.png": plots.pr_curve_figure(y, proba),
        "calibration.png": plots.calibration_figure(y, proba),
        "confusion_matrix.png": plots.confusion_matrix_figure(y, proba, threshold),
        "profit_curve.png": plots.profit_curve_figure(curve, threshold),
    }
    for name, figure in figures.items():
        plots.save_figure(figure, out_dir / name)
    return report


def _write_importance(fitted: FittedModel, frame: pd.DataFrame, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    table = global_importance(fitted.model, frame)
    table.to_csv(out_dir / "feature_importance.csv", index=False)
    plots.save_figure(
        plots.feature_importance_figure(table["feature"].tolist(), table["importance"]),
        out_dir / "feature_importance.png",
    )
    plots.save_figure(
        plots.shap_summary_figure(table["feature"].tolist(), table["mean_abs_shap"]),
        out_dir / "shap_summary.png",
    )


def _metadata(fitted: FittedModel, data_sha256: str, train: pd.DataFrame) -> dict[str, Any]:
    return {
        # Reference point of the linear attributions served per record (mean training vector).
        "linear_background": encoded_mean(fitted.model, train[list(FEATURE_COLUMNS)]),
        "threshold": fitted.threshold.threshold,
        "threshold_strategy": fitted.threshold.strategy,
        "calibration": fitted.calibration,
        "estimator": fitted.estimator,
        "data_sha256": data_sha256,
    }


def drift_reference(fitted: FittedModel, splits: SplitFrames) -> DriftReference:
    """The drift reference of a run: train features, churn probabilities on held-out data.

    The probabilities come from the test split (the validation split when there is no test
    split; none when both are empty): on the train split they would be overfitted.
    """
    held_out = splits.test if len(splits.test) else splits.validation
    probabilities = fitted.model.predict_proba(held_out)[:, 1] if len(held_out) else None
    return build_drift_reference(splits.train, probabilities)


def _attach_to_model(info: ModelInfo, path: Path) -> None:
    """Store ``path`` inside the logged model folder (it stays a run artifact if this fails)."""
    try:
        MlflowClient().log_model_artifact(info.model_id, str(path))
    except (MlflowException, OSError) as exc:
        logger.warning(
            "%s kept as a run artifact only: storing it in the model folder failed: %s",
            path.name,
            exc,
        )


def train_and_log(
    config: ChurnguardConfig,
    splits: SplitFrames,
    data_sha256: str,
    tuned: Mapping[str, Any] | None = None,
    reference_profile: Path | None = None,
) -> tuple[FittedModel, TrainResult]:
    """Fit on the train split, evaluate on validation and test, and log the run to MLflow."""
    configure_mlflow(config.mlflow)
    resolved = config.model_dump(mode="json")
    with mlflow.start_run(run_name=f"train-{config.model.estimator}") as run:
        mlflow.set_tags(provenance_tags(data_sha256, resolved) | {"stage": "train"})
        mlflow.log_params(_flatten(resolved))
        fitted = fit_model(splits.train, config, tuned)
        mlflow.log_params({f"fitted.{k}": v for k, v in fitted.params.items()})
        mlflow.log_params(
            {
                "fitted.calibration": fitted.calibration,
                "fitted.threshold": fitted.threshold.threshold,
            }
        )
        metrics = {f"cv_brier_{k}": v for k, v in fitted.oof_brier.items()}
        with tempfile.TemporaryDirectory(prefix="churnguard-run-") as tmp:
            out = Path(tmp)
            scored = [
                (n, f) for n, f in (("val", splits.validation), ("test", splits.test)) if len(f)
            ]
            for name, frame in scored:
                report = write_evaluation(
                    fitted.model, frame, fitted.threshold.threshold, config, out / name
                )
                metrics |= {f"{name}_{k}": v for k, v in report.metrics.items()}
                metrics[f"{name}_expected_profit"] = report.expected_profit
            _write_importance(fitted, scored[0][1] if scored else splits.train, out / "explain")
            if reference_profile is not None and reference_profile.is_file():
                shutil.copy(reference_profile, out / "reference_profile.json")
            drift_file = out / DRIFT_REFERENCE_FILE
            write_model_json(drift_file, drift_reference(fitted, splits))
            mlflow.log_artifacts(str(out))
            mlflow.log_metrics(metrics)
            info = log_model(
                fitted.model,
                splits.train[list(FEATURE_COLUMNS)],
                _metadata(fitted, data_sha256, splits.train),
            )
            _attach_to_model(info, drift_file)
    result = TrainResult(
        run_id=run.info.run_id,
        model_uri=info.model_uri,
        registered_version=None,
        estimator=fitted.estimator,
        params=fitted.params,
        calibration=fitted.calibration,
        threshold=fitted.threshold.threshold,
        metrics=metrics,
        data_sha256=data_sha256,
    )
    return fitted, result


__all__ = ["TrainResult", "drift_reference", "train_and_log", "write_evaluation"]
