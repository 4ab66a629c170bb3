"""Batch scoring and evaluation with a registered model (the champion by default).

Scoring computes a file's features point in time from the declaration, exactly as training did,
and decides with the threshold stored in the model, as the stream and the API will.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict

from fraudstream.config import FraudstreamConfig
from fraudstream.feature_store import compute_features
from fraudstream.io import atomic_path, frame_format, write_frame, write_model_json
from fraudstream.training.data import join_features, load_labelled_features, read_valid_transactions
from fraudstream.training.metrics import Evaluation, evaluate
from fraudstream.training.model_loading import LoadedModel, load_model
from fraudstream.training.protocol import split
from fraudstream.training.tracking import configure_mlflow
from fraudstream.transactions.contract import TRANSACTION_ID

EVALUATION_REPORT = "evaluation.json"
FRAUD_PROBABILITY = "fraud_probability"
IS_ALERT = "is_alert"


def champion_uri(config: FraudstreamConfig) -> str:
    """The registry URI of the current champion."""
    return f"models:/{config.registry.model_name}@champion"


def _load(config: FraudstreamConfig, model_uri: str | None) -> LoadedModel:
    configure_mlflow(config.mlflow, experiment=False)
    return load_model(model_uri or champion_uri(config))


class ScoreSummary(BaseModel):
    """What a scoring run wrote."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rows: int
    alerts: int
    threshold: float
    model_version: int | None
    output: Path


def score_frame(model: LoadedModel, transactions: pd.DataFrame) -> pd.DataFrame:
    """``TRANSACTION_ID``, ``fraud_probability`` and ``is_alert`` for every transaction."""
    frame = join_features(transactions, compute_features(transactions))
    probability = model.predict_proba(frame)
    return pd.DataFrame(
        {
            TRANSACTION_ID: frame[TRANSACTION_ID].to_numpy(),
            FRAUD_PROBABILITY: probability,
            IS_ALERT: probability >= model.threshold,
        }
    )


def run_score(
    config: FraudstreamConfig, input_path: Path, output: Path, model_uri: str | None = None
) -> ScoreSummary:
    """Score every transaction of ``input_path`` into ``output`` (CSV or Parquet, atomically)."""
    file_format = frame_format(output, "--output")
    transactions = read_valid_transactions(input_path, config)
    model = _load(config, model_uri)
    scored = score_frame(model, transactions)
    with atomic_path(output) as tmp:
        write_frame(tmp, scored, file_format)
    return ScoreSummary(
        rows=len(scored),
        alerts=int(scored[IS_ALERT].sum()),
        threshold=model.threshold,
        model_version=model.version,
        output=output,
    )


def run_evaluate(config: FraudstreamConfig, model_uri: str | None = None) -> Evaluation:
    """Evaluate a registered model on the configured protocol's test window, with its threshold."""
    frame, _ = load_labelled_features(config, None)
    test = split(frame, config.protocol).test
    model = _load(config, model_uri)
    evaluation = evaluate(
        test, model.predict_proba(test), model.threshold, config.model.alert_budget_k
    )
    write_model_json(config.paths.reports_dir / EVALUATION_REPORT, evaluation)
    return evaluation


__all__ = [
    "EVALUATION_REPORT",
    "FRAUD_PROBABILITY",
    "IS_ALERT",
    "ScoreSummary",
    "champion_uri",
    "run_evaluate",
    "run_score",
    "score_frame",
]
