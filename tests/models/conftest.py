"""Fixtures of the model tests.

Registry fixtures (prefixed ``registry_``): a throwaway project whose MLflow store is a sqlite file
in ``tmp_path``, processed synthetic splits, and a helper that trains and logs a small model.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow import MlflowClient
from sqlalchemy.exc import SADeprecationWarning

from churnguard.config import ChurnguardConfig
from churnguard.data.preprocess import SplitFrames, preprocess_data
from churnguard.data.schema import FEATURE_COLUMNS, TARGET_COLUMN
from churnguard.data.synthetic import generate_customers
from churnguard.models.config import EstimatorName
from churnguard.models.estimators import build_model_pipeline
from churnguard.models.tracking import configure_mlflow, log_model

#: Trains ``estimator`` with ``overrides`` on the train split and logs it: (model_uri, run_id).
TrainAndLog = Callable[
    [ChurnguardConfig, SplitFrames, EstimatorName, Mapping[str, Any] | None], tuple[str, str]
]

# MLflow's global state that ``configure_mlflow`` sets; restored after every registry test.
_MLFLOW_GLOBALS = (
    "mlflow.tracking._tracking_service.utils._tracking_uri",
    "mlflow.tracking._model_registry.utils._registry_uri",
    "mlflow.tracking.fluent._active_experiment_id",
)
_MLFLOW_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID")


@pytest.fixture(scope="session")
def registry_splits() -> SplitFrames:
    """Processed train / validation / test splits of 3000 synthetic customers."""
    return preprocess_data(generate_customers(3000, seed=5))


@pytest.fixture(scope="session")
def registry_empty_mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow sqlite store with its tables created, to copy into each test.

    Creating the tables runs MLflow's migrations, which takes seconds; a copy takes none.
    """
    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    uri = f"sqlite:///{path}"
    with warnings.catch_warnings():
        # MLflow 3.17's sqlite store uses SQLAlchemy's ``noload`` strategy, deprecated in
        # SQLAlchemy 2.1; the warning fires once, when the store module is imported.
        warnings.filterwarnings(
            "ignore", message="The ``noload`` loader strategy", category=SADeprecationWarning
        )
        MlflowClient(tracking_uri=uri, registry_uri=uri).search_registered_models()
    return path


@pytest.fixture
def registry_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry_empty_mlflow_db: Path
) -> ChurnguardConfig:
    """A project in ``tmp_path`` (the working directory) with its own MLflow store and history.

    MLflow's process-wide tracking settings are put back afterwards, so tests cannot leak their
    store into each other.
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    for name in _MLFLOW_ENV:
        monkeypatch.delenv(name, raising=False)
    for target in _MLFLOW_GLOBALS:
        monkeypatch.setattr(target, None)
    shutil.copyfile(registry_empty_mlflow_db, tmp_path / "mlflow.db")
    return ChurnguardConfig.model_validate(
        {
            "mlflow": {
                "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
                "artifact_location": str(tmp_path / "mlruns"),
            },
            "registry": {"history_file": tmp_path / "models" / "model_registry.json"},
        }
    )


def _train_and_log(
    config: ChurnguardConfig,
    splits: SplitFrames,
    estimator: EstimatorName,
    overrides: Mapping[str, Any] | None,
) -> tuple[str, str]:
    train = splits.train
    model = build_model_pipeline(config.features, config.model, overrides, estimator=estimator)
    model.fit(train[list(FEATURE_COLUMNS)], train[TARGET_COLUMN])
    configure_mlflow(config.mlflow)
    with mlflow.start_run() as run, warnings.catch_warnings():
        # MLflow 3.17 compares DataFrame columns with a ``range`` when saving the input example,
        # which pandas 3 deprecates (Pandas4Warning); nothing churnguard can change.
        warnings.filterwarnings("ignore", message="Operation with range is deprecated")
        info = log_model(model, train[list(FEATURE_COLUMNS)], {"threshold": 0.5})
    return info.model_uri, run.info.run_id


@pytest.fixture
def registry_train_and_log(registry_config: ChurnguardConfig) -> TrainAndLog:
    """``(config, splits, estimator, overrides) -> (model_uri, run_id)`` in the test's store."""
    return _train_and_log
