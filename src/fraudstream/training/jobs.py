"""The model jobs: train, promote, evaluate, score — configuration and files around pure code.

``run_train`` writes ``reports/training.json`` (what was chosen and how it scored: deterministic,
so DVC's lock stays reproducible) and ``models/last_training.json`` (this run's MLflow run and
registered version: run state, git-ignored). ``run_promote`` judges that version with the gate
and writes ``reports/promotion.json``.
"""

from __future__ import annotations

import logging
import tempfile
import time
from datetime import date
from pathlib import Path

import mlflow
from pydantic import BaseModel, ConfigDict
from sklearn.metrics import average_precision_score

from fraudstream import __version__
from fraudstream.config import FraudstreamConfig
from fraudstream.errors import PipelineStateError
from fraudstream.io import write_model_json
from fraudstream.training.data import load_labelled_features
from fraudstream.training.gate import GateMetrics, PromotionDecision
from fraudstream.training.metrics import Evaluation, card_precision_top_k
from fraudstream.training.model_loading import LoadedModel
from fraudstream.training.model_metadata import ModelMetadata
from fraudstream.training.plots import (
    card_precision_plot,
    precision_recall_plot,
    score_distribution_plot,
)
from fraudstream.training.promotion import promote
from fraudstream.training.protocol import split
from fraudstream.training.registry import register_challenger
from fraudstream.training.tracking import configure_mlflow, log_model, provenance_tags
from fraudstream.training.train import TrainingOutcome, train
from fraudstream.training.tune import TuningResult
from fraudstream.transactions.contract import TX_FRAUD

logger = logging.getLogger(__name__)

TRAINING_REPORT = "training.json"
PROMOTION_REPORT = "promotion.json"
LAST_TRAINING = Path("models/last_training.json")
#: Significant digits of the training and promotion reports' figures: the same on every machine
#: (the last bits of a float sum depend on the CPU's vector width), so DVC's lock does not change
#: with the machine.
REPORT_DIGITS = 10
_INPUT_EXAMPLE_ROWS = 5


class TrainingReport(BaseModel):
    """What one training chose and how it scored on the test window (no run ids: reproducible)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_sha256: str
    test_window: str
    train_window: str
    train_transactions: int
    train_frauds_known: int
    selection: TuningResult
    threshold: float
    model: Evaluation
    baseline_threshold: float
    baseline: Evaluation


class LastTraining(BaseModel):
    """The run and registered version of the last training (run state)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    model_uri: str
    version: int
    seconds: float
    fraudstream_version: str


def _metrics(prefix: str, evaluation: Evaluation) -> dict[str, float]:
    return {f"{prefix}{name}": value for name, value in evaluation.headline().items()}


def _log_days(evaluation: Evaluation) -> None:
    for step, day in enumerate(evaluation.days):
        mlflow.log_metric("test_card_precision_top_k_by_day", day.card_precision_top_k, step=step)
        if day.average_precision is not None:
            mlflow.log_metric("test_average_precision_by_day", day.average_precision, step=step)


def _log_plots(outcome: TrainingOutcome) -> None:
    test = outcome.split.test
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        plots = [
            precision_recall_plot(
                test,
                {"model": outcome.model.test_scores, "baseline": outcome.baseline.test_scores},
                {"model": outcome.model.threshold, "baseline": outcome.baseline.threshold},
                out / "precision_recall.png",
            ),
            card_precision_plot(
                {"model": outcome.model.evaluation, "baseline": outcome.baseline.evaluation},
                out / "card_precision_per_day.png",
            ),
            score_distribution_plot(
                test, outcome.model.test_scores, out / "scores_by_scenario.png"
            ),
        ]
        for plot in plots:
            mlflow.log_artifact(str(plot), artifact_path="plots")


def _report(outcome: TrainingOutcome, data_sha256: str) -> TrainingReport:
    protocol = outcome.protocol
    return TrainingReport(
        data_sha256=data_sha256,
        test_window=protocol.test_window(),
        train_window=protocol.train_window(),
        train_transactions=len(outcome.split.train),
        train_frauds_known=int(outcome.split.train[TX_FRAUD].sum()),
        selection=outcome.selection,
        threshold=outcome.model.threshold,
        model=outcome.model.evaluation,
        baseline_threshold=outcome.baseline.threshold,
        baseline=outcome.baseline.evaluation,
    )


def _log_and_register(
    config: FraudstreamConfig, outcome: TrainingOutcome, data_sha256: str
) -> tuple[str, str, int]:
    evaluation = outcome.model.evaluation
    metadata = ModelMetadata.for_current_features(
        threshold=outcome.model.threshold,
        alert_budget_k=config.model.alert_budget_k,
        test_window=outcome.protocol.test_window(),
        average_precision=evaluation.average_precision,
        card_precision_top_k=evaluation.card_precision_top_k,
        roc_auc=evaluation.roc_auc,
    )
    configure_mlflow(config.mlflow)
    with mlflow.start_run(run_name="train") as run:
        mlflow.set_tags(provenance_tags(data_sha256, config.model_dump(mode="json")))
        mlflow.log_params(
            {
                "estimator": outcome.selection.estimator,
                "class_weight": outcome.selection.weighting,
                "alert_budget_k": config.model.alert_budget_k,
                "start_date": str(outcome.protocol.start_date),
                "train_days": outcome.protocol.train_days,
                "delay_days": outcome.protocol.delay_days,
                "test_days": outcome.protocol.test_days,
                **{f"model_{k}": v for k, v in outcome.selection.params.items()},
            }
        )
        mlflow.log_metrics(
            _metrics("test_", evaluation)
            | _metrics("baseline_", outcome.baseline.evaluation)
            | {
                "threshold": outcome.model.threshold,
                "validation_average_precision": outcome.selection.scores.average_precision,
                "validation_card_precision_top_k": outcome.selection.scores.card_precision_top_k,
                **{
                    f"validation_objective_{option}_class_weight": value
                    for option, value in outcome.selection.weighting_scores.items()
                },
            }
        )
        _log_days(evaluation)
        _log_plots(outcome)
        example = outcome.split.test.head(_INPUT_EXAMPLE_ROWS)
        info = log_model(outcome.model.estimator, example, metadata)
        run_id = run.info.run_id
    version = register_challenger(info, config)
    return run_id, info.model_uri, version


def run_train(config: FraudstreamConfig, input_path: Path | None = None) -> TrainingReport:
    """Train, log, register as ``challenger``; write the report and the run state."""
    started = time.perf_counter()
    frame, data_sha256 = load_labelled_features(config, input_path)
    try:
        outcome = train(frame, config.protocol, config.model, config.tuning)
    except ValueError as exc:
        raise PipelineStateError(str(exc)) from exc
    report = _report(outcome, data_sha256)
    run_id, model_uri, version = _log_and_register(config, outcome, data_sha256)
    write_model_json(
        config.paths.reports_dir / TRAINING_REPORT, report, significant_digits=REPORT_DIGITS
    )
    write_model_json(
        LAST_TRAINING,
        LastTraining(
            run_id=run_id,
            model_uri=model_uri,
            version=version,
            seconds=round(time.perf_counter() - started, 1),
            fraudstream_version=__version__,
        ),
    )
    logger.info("trained", extra={"version": version, "run_id": run_id})
    return report


def read_training(config: FraudstreamConfig) -> tuple[TrainingReport, LastTraining]:
    """The last training's report and run state.

    Raises:
        PipelineStateError: nothing has been trained yet here.
    """
    report_path = config.paths.reports_dir / TRAINING_REPORT
    if not report_path.is_file() or not LAST_TRAINING.is_file():
        msg = f"{report_path} or {LAST_TRAINING} is missing: run `fraudstream train` first"
        raise PipelineStateError(msg)
    return (
        TrainingReport.model_validate_json(report_path.read_text(encoding="utf-8")),
        LastTraining.model_validate_json(LAST_TRAINING.read_text(encoding="utf-8")),
    )


def gate_metrics(evaluation: Evaluation, test_window: str) -> GateMetrics:
    """What the gate compares, from an evaluation."""
    return GateMetrics(
        average_precision=evaluation.average_precision,
        card_precision_top_k=evaluation.card_precision_top_k,
        test_window=test_window,
    )


def run_promote(config: FraudstreamConfig) -> PromotionDecision:
    """Judge the last trained challenger with the gate; write ``reports/promotion.json``."""
    report, last = read_training(config)
    first_test_day = date.fromisoformat(report.test_window.split("..")[0])
    protocol = config.protocol
    if protocol.test_start != first_test_day:
        msg = f"the configured protocol tests from {protocol.test_start}, the last training from {first_test_day}: train again"
        raise PipelineStateError(msg)
    frame, _ = load_labelled_features(config, None)
    test = split(frame, protocol).test
    k = config.model.alert_budget_k

    def evaluate_incumbent(loaded: LoadedModel) -> GateMetrics:
        scores = loaded.predict_proba(test)
        return GateMetrics(
            average_precision=float(average_precision_score(test[TX_FRAUD], scores)),
            card_precision_top_k=card_precision_top_k(test, scores, k),
            test_window=report.test_window,
        )

    configure_mlflow(config.mlflow, experiment=False)
    decision = promote(
        config, last.version, evaluate_incumbent, gate_metrics(report.baseline, report.test_window)
    )
    write_model_json(
        config.paths.reports_dir / PROMOTION_REPORT, decision, significant_digits=REPORT_DIGITS
    )
    return decision


__all__ = [
    "LAST_TRAINING",
    "PROMOTION_REPORT",
    "TRAINING_REPORT",
    "LastTraining",
    "TrainingReport",
    "gate_metrics",
    "read_training",
    "run_promote",
    "run_train",
]
