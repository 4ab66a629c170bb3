"""Serving the registry's champion: a live server on ``models:/churnguard@champion``.

The server starts on an empty embedded MLflow store (sqlite + a local artifact folder in tmp), so
it is alive but not ready. The test process then trains, logs, registers and promotes a model
through the real quality gate; a reload makes the server ready on version 1. A tampered artifact
is refused, and ``churnguard export`` turns the champion into a bundle that serves as version 1.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import mlflow
import pytest
from fastapi.testclient import TestClient
from live import (
    API_KEY,
    CHURNGUARD,
    CONFIG_PATH,
    LiveServer,
    reference_probability,
    running_server,
    server_environment,
)
from mlflow import MlflowClient

from churnguard.api.app import create_app
from churnguard.api.schemas import EXAMPLE_CUSTOMER
from churnguard.config import ChurnguardConfig, load_config
from churnguard.data.preprocess import preprocess_data
from churnguard.data.schema import FEATURE_COLUMNS, TARGET_COLUMN
from churnguard.data.synthetic import generate_customers
from churnguard.io import sha256_file
from churnguard.models.bundle import MANIFEST_NAME, ModelRecord, export_bundle
from churnguard.models.config import MlflowConfig, ModelConfig, RegistryConfig
from churnguard.models.estimators import build_model_pipeline
from churnguard.models.fastpath import encoded_mean
from churnguard.models.registry import MODEL_SHA_TAG, promote, register_challenger
from churnguard.models.serialization import ModelLoadError
from churnguard.models.tracking import configure_mlflow, log_model

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

CHAMPION_URI = "models:/churnguard@champion"
KEY = {"X-API-Key": API_KEY}
DATA_SHA = "d" * 64
# MLflow's process-wide settings that ``configure_mlflow`` sets; put back after the module.
_MLFLOW_GLOBALS = (
    "mlflow.tracking._tracking_service.utils._tracking_uri",
    "mlflow.tracking._model_registry.utils._registry_uri",
    "mlflow.tracking.fluent._active_experiment_id",
)
_MLFLOW_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID")


@dataclass(frozen=True)
class Store:
    """The embedded MLflow store and the configuration that points at it."""

    root: Path
    config: ChurnguardConfig

    @property
    def env(self) -> dict[str, str]:
        """The same store for a ``churnguard`` subprocess."""
        return {
            "CHURNGUARD_MLFLOW_TRACKING_URI": self.config.mlflow.tracking_uri,
            "CHURNGUARD_MLFLOW_ARTIFACT_LOCATION": self.config.mlflow.artifact_location,
            "CHURNGUARD_REGISTRY_HISTORY_FILE": str(self.config.registry.history_file),
        }


@dataclass(frozen=True)
class Started:
    """The server, and what it answered before any model was registered."""

    server: LiveServer
    ready: httpx.Response
    predict: httpx.Response
    v2_ready: httpx.Response


@dataclass(frozen=True)
class Champion:
    """The promoted model: version, run, recorded file hash and the fitted model."""

    version: str
    run_id: str
    model_sha256: str
    model: Any


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    root = tmp_path_factory.mktemp("registry")
    base = load_config(CONFIG_PATH, use_env=False)
    config = base.model_copy(
        update={
            "mlflow": MlflowConfig(
                tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
                artifact_location=str(root / "mlruns"),
            ),
            # Pinned, as tests/models pins them: this model passes the gate on this data.
            "model": ModelConfig(
                estimator="lightgbm",
                seed=42,
                lightgbm={
                    "n_estimators": 100,
                    "learning_rate": 0.03,
                    "num_leaves": 8,
                    "min_child_samples": 40,
                    "subsample": 0.8,
                    "subsample_freq": 1,
                    "colsample_bytree": 0.7,
                    "reg_lambda": 1.0,
                },
                logistic={"C": 1.0, "max_iter": 2000},
            ),
            "registry": RegistryConfig(history_file=root / "models" / "model_registry.json"),
        }
    )
    # MLflow exports MLFLOW_TRACKING_URI when it is set; monkeypatch cannot undo a variable
    # that did not exist before, so the old values are put back by hand.
    saved = {name: os.environ.pop(name, None) for name in _MLFLOW_ENV}
    try:
        with pytest.MonkeyPatch.context() as monkeypatch:
            monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
            for target in _MLFLOW_GLOBALS:
                monkeypatch.setattr(target, None)
            yield Store(root=root, config=config)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
def started(store: Store) -> Iterator[Started]:
    env = store.env | {
        "CHURNGUARD_SERVING_API_KEY": API_KEY,
        "CHURNGUARD_SERVING_STORE_URL": f"sqlite:///{store.root / 'serving.db'}",
    }
    with (
        running_server(CHAMPION_URI, store.root / "server", env) as server,
        server.client() as http,
    ):
        yield Started(
            server=server,
            ready=http.get("/ready"),
            predict=http.post("/predict", json=EXAMPLE_CUSTOMER),
            v2_ready=http.get("/v2/health/ready"),
        )


@pytest.fixture(scope="module")
def http(started: Started) -> Iterator[httpx.Client]:
    with started.server.client() as client:
        yield client


def _log_register_and_promote(config: ChurnguardConfig) -> tuple[Any, str, str]:
    splits = preprocess_data(generate_customers(3000, seed=5))
    features = splits.train[list(FEATURE_COLUMNS)]
    model = build_model_pipeline(config.features, config.model, estimator="lightgbm")
    model.fit(features, splits.train[TARGET_COLUMN])
    metadata = {
        "threshold": 0.45,
        "data_sha256": DATA_SHA,
        "linear_background": encoded_mean(model, features),
    }
    configure_mlflow(config.mlflow)
    with mlflow.start_run() as run:
        info = log_model(model, features, metadata)
    version = register_challenger(
        info.model_uri, run.info.run_id, {"roc_auc": 0.9}, DATA_SHA, config
    )
    decision = promote(config, splits.train, splits.test, actor="tester")
    assert decision.promoted, decision.reason
    return model, str(version), run.info.run_id


@pytest.fixture(scope="module")
def champion(store: Store, started: Started) -> Champion:
    """Version 1, logged, registered and promoted after the server started without a model."""
    with warnings.catch_warnings():
        # Raised once, when MLflow's pyfunc module is first imported (its own ``Any`` type
        # hint); tests/models/conftest.py imports it the same way.
        warnings.filterwarnings(
            "ignore", message=".*Any type hint is inferred as AnyType", category=UserWarning
        )
        importlib.import_module("mlflow.pyfunc")
        model, version, run_id = _log_register_and_promote(store.config)
    recorded = MlflowClient().get_model_version("churnguard", version).tags[MODEL_SHA_TAG]
    return Champion(version=version, run_id=run_id, model_sha256=recorded, model=model)


def _model_files(store: Store) -> list[Path]:
    return sorted((store.root / "mlruns").rglob("model.skops"))


def test_without_a_champion_the_server_is_alive_but_not_ready(started: Started) -> None:
    assert started.ready.status_code == 503
    body = started.ready.json()
    assert body["status"] == "not_ready"
    assert CHAMPION_URI in body["reason"]
    assert started.predict.status_code == 503
    assert "no model is loaded" in started.predict.json()["detail"]
    assert started.v2_ready.status_code == 503
    assert started.v2_ready.json()["error"].startswith("no model is loaded")
    with started.server.client() as http:
        assert http.get("/health").status_code == 200


def test_reload_serves_the_promoted_champion(
    started: Started, champion: Champion, http: httpx.Client
) -> None:
    reload = http.post("/admin/reload", headers=KEY)
    assert reload.status_code == 200, reload.text
    assert reload.json()["reloaded"] is True
    assert reload.json()["version"] == "1"
    assert http.get("/ready").json() == {"status": "ready", "reason": None}
    info = http.get("/model").json()
    assert info["name"] == "churnguard"
    assert info["version"] == champion.version == "1"
    assert info["alias"] == "champion"
    assert info["run_id"] == champion.run_id
    assert info["model_sha256"] == champion.model_sha256
    assert info["data_sha256"] == DATA_SHA
    assert info["metrics"] == {"roc_auc": 0.9}
    assert info["threshold"] == 0.45
    answer = http.post("/predict", json=EXAMPLE_CUSTOMER).json()
    assert answer["model_version"] == "1"
    assert answer["churn_probability"] == pytest.approx(
        reference_probability(champion.model, [EXAMPLE_CUSTOMER])[0], abs=1e-9
    )


def test_a_tampered_artifact_is_refused_and_the_champion_keeps_serving(
    store: Store, champion: Champion, http: httpx.Client
) -> None:
    assert http.post("/admin/reload", headers=KEY).status_code == 200
    files = _model_files(store)
    assert files, "the logged model file was not found in the artifact store"
    originals = {path: path.read_bytes() for path in files}
    try:
        for path, content in originals.items():
            path.write_bytes(content + b"tampered")
        refused = http.post("/admin/reload", headers=KEY)
        with pytest.raises(ModelLoadError, match="sha256"):
            export_bundle(CHAMPION_URI, store.root / "refused-export")
    finally:
        for path, content in originals.items():
            path.write_bytes(content)
    assert refused.status_code == 409
    body = refused.json()
    assert body["reloaded"] is False
    assert body["version"] == "1"
    assert "sha256" in body["reason"]
    assert champion.model_sha256 in body["reason"]
    assert not (store.root / "refused-export").exists()
    answer = http.post("/predict", json=EXAMPLE_CUSTOMER)
    assert answer.status_code == 200
    assert answer.json()["model_version"] == "1"
    assert http.get("/model").json()["model_sha256"] == champion.model_sha256


def test_export_writes_a_bundle_that_serves_as_the_registered_version(
    store: Store, champion: Champion
) -> None:
    output = store.root / "exported" / "bundle"
    result = subprocess.run(
        [
            str(CHURNGUARD),
            "--config",
            str(CONFIG_PATH),
            "export",
            "--model-uri",
            CHAMPION_URI,
            "--output",
            str(output),
        ],
        cwd=store.root,
        env=server_environment(store.env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "version 1" in result.stdout
    manifest = ModelRecord.model_validate_json((output / MANIFEST_NAME).read_text())
    assert (manifest.name, manifest.version, manifest.alias) == ("churnguard", "1", "champion")
    assert manifest.run_id == champion.run_id
    assert manifest.model_sha256 == champion.model_sha256 == sha256_file(output / "model.skops")
    assert json.loads((output / MANIFEST_NAME).read_text())["metrics"] == {"roc_auc": 0.9}

    serving = store.config.serving.model_copy(
        update={"model_uri": str(output), "store_url": f"sqlite:///{store.root / 'export.db'}"}
    )
    with TestClient(create_app(store.config.model_copy(update={"serving": serving}))) as client:
        info = client.get("/model").json()
        answer = client.post("/predict", json=EXAMPLE_CUSTOMER).json()
    assert (info["version"], info["alias"], info["run_id"]) == ("1", "champion", champion.run_id)
    assert info["model_sha256"] == champion.model_sha256
    assert answer["model_version"] == "1"
    assert answer["churn_probability"] == pytest.approx(
        reference_probability(champion.model, [EXAMPLE_CUSTOMER])[0], abs=1e-9
    )
