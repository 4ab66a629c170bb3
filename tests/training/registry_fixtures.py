"""Helpers of the registry and tracking tests: tiny fraud data, candidate models, an MLflow store.

The data are random feature vectors with the real ``FEATURE_NAMES`` columns, a card and a day per
row, and labels drawn from a known rule: fraud grows with the terminal's 7-day risk (linear) and
with the distance of the amount from its mean (quadratic, which only a tree model captures). The
candidates, scored on the 7-day test window (:func:`gate_metrics`):

- ``good``: StandardScaler + LogisticRegression (captures the linear part);
- ``better``: a bare LGBMClassifier (captures both parts: higher AP and card precision@k);
- ``worse``: the logistic pipeline fitted on shuffled labels (no skill).

:func:`shared_store` logs them once per session into an MLflow sqlite store; each test works on
a private copy of that database (the artifacts stay in the session's folder, read only).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final

import mlflow
import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from fraudstream.feature_store import FEATURE_NAMES
from fraudstream.training.gate import GateMetrics
from fraudstream.training.model_loading import LoadedModel
from fraudstream.training.model_metadata import ModelMetadata, format_test_window
from fraudstream.training.registry_config import (
    GateConfig,
    MlflowConfig,
    RegistryConfig,
    RegistrySettings,
)
from fraudstream.training.tracking import configure_mlflow, log_model

TEST_DAYS: Final = 7
FIRST_TEST_DAY: Final = date(2018, 8, 8)
TEST_WINDOW: Final = format_test_window(
    FIRST_TEST_DAY, FIRST_TEST_DAY + timedelta(days=TEST_DAYS - 1)
)
#: Cards the investigators can check per day in these tests.
ALERT_BUDGET_K: Final = 10
CARD: Final = "CUSTOMER_ID"
DAY: Final = "DAY"
LABEL: Final = "TX_FRAUD"
CANDIDATES: Final = ("good", "better", "worse")

# MLflow's process-wide state that ``configure_mlflow`` sets, reset around every use here.
_MLFLOW_GLOBALS: Final = (
    "mlflow.tracking._tracking_service.utils._tracking_uri",
    "mlflow.tracking._model_registry.utils._registry_uri",
    "mlflow.tracking.fluent._active_experiment_id",
)
_MLFLOW_ENV: Final = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID")


@dataclass(frozen=True)
class FraudSplits:
    """A training frame and a 7-day test frame: features, card, day and label columns."""

    train: pd.DataFrame
    test: pd.DataFrame


#: The two columns the label rule reads; every other feature is noise.
_SIGNAL: Final = ("TERMINAL_ID_RISK_7DAY_WINDOW", "TX_AMOUNT")


def _frame(rng: np.random.Generator, rows: int, days: int) -> pd.DataFrame:
    # The signal columns come first from their own draws, so the data (and which candidate wins)
    # do not change when the feature declaration grows; the noise columns come after.
    signal = rng.normal(size=(rows, len(_SIGNAL)))
    noise_columns = [name for name in FEATURE_NAMES if name not in _SIGNAL]
    noise = np.random.default_rng(rng.integers(2**32)).normal(size=(rows, len(noise_columns)))
    frame = pd.concat(
        [pd.DataFrame(signal, columns=list(_SIGNAL)), pd.DataFrame(noise, columns=noise_columns)],
        axis=1,
    )[list(FEATURE_NAMES)]
    logit = -4.0 + 1.2 * frame[_SIGNAL[0]] + 1.8 * (frame[_SIGNAL[1]] ** 2 - 1.0)
    frame[LABEL] = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    frame[CARD] = rng.integers(0, 150, size=rows)
    frame[DAY] = rng.integers(0, days, size=rows)
    return frame


def make_splits(seed: int = 11) -> FraudSplits:
    """3,000 training rows and 2,100 test rows (300 a day) drawn from the rule above."""
    rng = np.random.default_rng(seed)
    return FraudSplits(train=_frame(rng, 3000, 21), test=_frame(rng, 2100, TEST_DAYS))


def card_precision_top_k(test: pd.DataFrame, scores: np.ndarray, k: int) -> float:
    """Mean over days of the share of fraudulent cards among the day's ``k`` riskiest cards."""
    cards = (
        test.assign(score=scores)
        .groupby([DAY, CARD])
        .agg(score=("score", "max"), fraud=(LABEL, "max"))
    )
    per_day = [day.nlargest(k, "score")["fraud"].mean() for _, day in cards.groupby(level=DAY)]
    return float(np.mean(per_day))


def gate_metrics(scores: np.ndarray, test: pd.DataFrame) -> GateMetrics:
    """The gate metrics of ``scores`` on the test frame."""
    return GateMetrics(
        average_precision=float(average_precision_score(test[LABEL], scores)),
        card_precision_top_k=card_precision_top_k(test, scores, ALERT_BUDGET_K),
        test_window=TEST_WINDOW,
    )


def incumbent_evaluator(test: pd.DataFrame) -> Callable[[LoadedModel], GateMetrics]:
    """What the training code hands ``promote``: scores a loaded model on the test frame."""

    def evaluate(model: LoadedModel) -> GateMetrics:
        return gate_metrics(model.predict_proba(test), test)

    return evaluate


def fit_candidate(name: str, splits: FraudSplits) -> Any:
    """Fit the candidate ``name`` (see the module docstring) on the training frame."""
    features, labels = splits.train.loc[:, list(FEATURE_NAMES)], splits.train[LABEL]
    if name == "better":
        model = LGBMClassifier(n_estimators=60, num_leaves=8, random_state=0, verbose=-1)
        return model.fit(features, labels)
    if name == "worse":
        labels = labels.sample(frac=1.0, random_state=0).set_axis(labels.index)
    logistic = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())])
    return logistic.fit(features, labels)


def fraud_probability(estimator: Any, frame: pd.DataFrame) -> np.ndarray:
    """``predict_proba(X)[:, 1]`` of a fitted candidate on the feature columns of ``frame``."""
    return np.asarray(estimator.predict_proba(frame.loc[:, list(FEATURE_NAMES)])[:, 1])


def metadata_for(estimator: Any, splits: FraudSplits, threshold: float = 0.5) -> ModelMetadata:
    """The metadata training would log with ``estimator``: its metrics on the test window."""
    scores = fraud_probability(estimator, splits.test)
    metrics = gate_metrics(scores, splits.test)
    return ModelMetadata.for_current_features(
        threshold=threshold,
        alert_budget_k=ALERT_BUDGET_K,
        test_window=TEST_WINDOW,
        average_precision=metrics.average_precision,
        card_precision_top_k=metrics.card_precision_top_k,
        roc_auc=float(roc_auc_score(splits.test[LABEL], scores)),
    )


def log_candidate(estimator: Any, splits: FraudSplits, metadata: ModelMetadata) -> str:
    """Log ``estimator`` in a new run of the configured experiment; return its model URI."""
    with mlflow.start_run():
        info = log_model(estimator, splits.train, metadata)
    return str(info.model_uri)


def isolate_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start from a blank MLflow configuration; ``monkeypatch`` restores the old one."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    for name in _MLFLOW_ENV:
        monkeypatch.delenv(name, raising=False)
    for target in _MLFLOW_GLOBALS:
        monkeypatch.setattr(target, None)


def settings_in(folder: Path, artifacts: Path | None = None, **gate: Any) -> RegistrySettings:
    """Registry settings whose store, artifacts and history file live in ``folder``."""
    return RegistrySettings(
        mlflow=MlflowConfig(
            tracking_uri=f"sqlite:///{folder / 'mlflow.db'}",
            artifact_location=str(artifacts or folder / "mlruns"),
        ),
        registry=RegistryConfig(history_file=folder / "models" / "model_registry.json"),
        gate=GateConfig(**gate),
    )


@dataclass(frozen=True)
class RegistryStore:
    """An MLflow sqlite store with the logged, unregistered candidates (copy it, never write).

    Attributes:
        folder: Where the database and the artifacts are.
        splits: The data the candidates were trained and scored on.
        models: The model URI of each candidate, by name.
        estimators: The fitted candidates, by name.
    """

    folder: Path
    splits: FraudSplits
    models: Mapping[str, str]
    estimators: Mapping[str, Any]

    @property
    def database(self) -> Path:
        """The sqlite file."""
        return self.folder / "mlflow.db"


def _build_store(folder: Path) -> RegistryStore:
    splits = make_splits()
    estimators = {name: fit_candidate(name, splits) for name in CANDIDATES}
    configure_mlflow(settings_in(folder).mlflow)
    models = {
        name: log_candidate(model, splits, metadata_for(model, splits))
        for name, model in estimators.items()
    }
    return RegistryStore(folder=folder, splits=splits, models=models, estimators=estimators)


_STORE_KEY = pytest.StashKey[RegistryStore]()


def shared_store(request: pytest.FixtureRequest) -> RegistryStore:
    """The session's store, built on first use (logging the three candidates takes seconds)."""
    stash = request.config.stash
    if _STORE_KEY not in stash:
        folder = request.getfixturevalue("tmp_path_factory").mktemp("registry-store")
        with pytest.MonkeyPatch.context() as monkeypatch:
            isolate_mlflow(monkeypatch)
            stash[_STORE_KEY] = _build_store(folder)
    return stash[_STORE_KEY]


def private_copy(
    store: RegistryStore, folder: Path, monkeypatch: pytest.MonkeyPatch, **gate: Any
) -> RegistrySettings:
    """Settings of a project in ``folder`` (made the working directory) on a copy of ``store``.

    The copy holds the logged candidates and no registered model; new runs' artifacts go to the
    session's folder. MLflow's process-wide settings are restored after the test.
    """
    monkeypatch.chdir(folder)
    isolate_mlflow(monkeypatch)
    shutil.copyfile(store.database, folder / "mlflow.db")
    return settings_in(folder, artifacts=store.folder / "mlruns", **gate)
