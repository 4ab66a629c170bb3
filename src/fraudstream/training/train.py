"""Training under the protocol: select, fit, threshold, evaluate — and the baseline beside it.

Pure of I/O: takes transactions with their features, returns the fitted model, its decision
threshold and its evaluation on the test window, plus the logistic baseline's evaluation on the
same window (what the gate compares a first model with).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fraudstream.training.estimators import (
    Estimator,
    Weighting,
    build_estimator,
    fit,
    fraud_probability,
)
from fraudstream.training.metrics import Evaluation, alert_threshold, evaluate
from fraudstream.training.model_config import EstimatorName, ModelConfig, TuningConfig
from fraudstream.training.protocol import ProtocolConfig, Split, split
from fraudstream.training.tune import TuningResult, select_model
from fraudstream.transactions.contract import TX_FRAUD


@dataclass(frozen=True)
class Scored:
    """A fitted model with its threshold and its test evaluation."""

    estimator: Estimator
    threshold: float
    evaluation: Evaluation
    test_scores: np.ndarray


@dataclass(frozen=True)
class TrainingOutcome:
    """Everything one training run produced."""

    protocol: ProtocolConfig
    split: Split
    selection: TuningResult
    model: Scored
    baseline: Scored


def check_windows(frame: pd.DataFrame, protocol: ProtocolConfig, data: Split) -> None:
    """Refuse a protocol whose windows the data does not cover, or which hold no fraud."""
    first, last = frame["TX_DATETIME"].min().date(), frame["TX_DATETIME"].max().date()
    earliest = protocol.validation_folds()[-1].start_date
    if earliest < first or protocol.test_end > last:
        msg = (
            f"the protocol needs transactions from {earliest} (its earliest validation fold) to "
            f"{protocol.test_end} but the data spans {first}..{last}: move --start-date, "
            "shorten the windows or use fewer folds"
        )
        raise ValueError(msg)
    if data.train[TX_FRAUD].sum() == 0 or data.test[TX_FRAUD].sum() == 0:
        msg = (
            f"the training window ({protocol.start_date}, {protocol.train_days} days) or the test "
            f"window ({protocol.test_window()}) holds no known fraud: choose other dates"
        )
        raise ValueError(msg)


def fit_and_score(
    estimator: EstimatorName,
    params: dict[str, object],
    weighting: Weighting,
    data: Split,
    model: ModelConfig,
) -> Scored:
    """Fit on the train window, set the threshold on the delay period, evaluate on the test."""
    fitted = fit(
        build_estimator(estimator, params, weighting, model.seed), data.train, data.train[TX_FRAUD]
    )
    period_scores = fraud_probability(fitted, data.threshold_period)
    threshold = alert_threshold(data.threshold_period, period_scores, model.alert_budget_k)
    test_scores = fraud_probability(fitted, data.test)
    return Scored(
        estimator=fitted,
        threshold=threshold,
        evaluation=evaluate(data.test, test_scores, threshold, model.alert_budget_k),
        test_scores=test_scores,
    )


def train(
    frame: pd.DataFrame, protocol: ProtocolConfig, model: ModelConfig, tuning: TuningConfig
) -> TrainingOutcome:
    """Select the model on prequential folds, fit it, and evaluate it and the baseline.

    Args:
        frame: Transactions (with labels and label times) joined with their features.
        protocol: The windows.
        model: Estimator, seed, alert budget, class weighting.
        tuning: The search budget.

    Raises:
        ValueError: the data does not cover the protocol's windows, or they hold no fraud.
    """
    data = split(frame, protocol)
    check_windows(frame, protocol, data)
    folds = [split(frame, fold) for fold in protocol.validation_folds()]
    selection = select_model(folds, model, tuning)
    chosen = fit_and_score(
        selection.estimator, dict(selection.params), selection.weighting, data, model
    )
    baseline = fit_and_score("logistic", dict(model.logistic), "none", data, model)
    return TrainingOutcome(
        protocol=protocol, split=data, selection=selection, model=chosen, baseline=baseline
    )


__all__ = ["Scored", "TrainingOutcome", "check_windows", "fit_and_score", "train"]
