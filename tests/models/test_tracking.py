"""MLflow tracking: embedded sqlite store, safe model round-trips, and a real PostgreSQL-backed server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pytest
import sqlalchemy as sa
from mlflow import MlflowClient
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from churnguard.config import ChurnguardConfig
from churnguard.data.schema import FEATURE_COLUMNS
from churnguard.jobs.data import run_build_features, run_ingest, run_preprocess, run_validate
from churnguard.jobs.training import run_evaluate, run_train
from churnguard.models.config import MlflowConfig
from churnguard.models.estimators import build_model_pipeline
from churnguard.models.serialization import ModelLoadError, check_trusted, load_local_model
from churnguard.models.tracking import (
    TrackingUnavailableError,
    config_hash,
    configure_mlflow,
    load_model,
    log_model,
    provenance_tags,
)

POSTGRES_URL = os.environ.get(
    "CHURNGUARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _double(x: object) -> object:
    return x


@pytest.mark.unit
def test_provenance_tags_name_data_code_config_and_versions() -> None:
    tags = provenance_tags("ab" * 32, {"split": {"seed": 1}})
    assert tags["data_sha256"] == "ab" * 32
    assert tags["config_hash"] == config_hash({"split": {"seed": 1}})
    assert tags["config_hash"] != config_hash({"split": {"seed": 2}})
    assert {
        "version.churnguard",
        "version.scikit-learn",
        "version.lightgbm",
        "version.mlflow",
    } <= set(tags)
    assert tags["git_commit"]


@pytest.mark.unit
def test_a_model_with_an_untrusted_type_is_refused_before_logging(registry_splits: object) -> None:
    risky = Pipeline([("passthrough", FunctionTransformer(_double))])
    with pytest.raises(ModelLoadError, match="allow-list"):
        check_trusted(risky)


@pytest.mark.unit
def test_embedded_store_round_trips_model_and_metadata(
    registry_config: ChurnguardConfig, registry_splits: object
) -> None:
    splits = registry_splits
    model = build_model_pipeline(registry_config.features, registry_config.model).fit(
        splits.train, splits.train["Churn"]
    )  # type: ignore[attr-defined]
    configure_mlflow(registry_config.mlflow)
    with mlflow.start_run():
        info = log_model(model, splits.train[list(FEATURE_COLUMNS)], {"threshold": 0.42})  # type: ignore[attr-defined]
    loaded = load_model(info.model_uri)
    assert loaded.metadata["threshold"] == 0.42
    expected = model.predict_proba(splits.test)[:, 1]  # type: ignore[attr-defined]
    assert np.array_equal(loaded.model.predict_proba(splits.test)[:, 1], expected)  # type: ignore[attr-defined]
    assert loaded.model_uri == info.model_uri


@pytest.mark.unit
def test_a_pickled_model_is_never_loaded(
    tmp_path: Path, registry_splits: object, registry_config: ChurnguardConfig
) -> None:
    splits = registry_splits
    model = build_model_pipeline(
        registry_config.features, registry_config.model, estimator="logistic"
    )
    model.fit(splits.train, splits.train["Churn"])  # type: ignore[attr-defined]
    target = tmp_path / "pickled"
    mlflow.sklearn.save_model(model, str(target), serialization_format="cloudpickle")
    with pytest.raises(ModelLoadError, match="only loads skops models"):
        load_local_model(target)


@pytest.mark.unit
def test_a_folder_that_is_not_a_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not an MLflow scikit-learn model"):
        load_local_model(tmp_path)


@pytest.mark.unit
def test_unreachable_tracking_server_is_one_clear_error() -> None:
    started = time.perf_counter()
    with pytest.raises(TrackingUnavailableError, match="unset it to use the embedded sqlite store"):
        configure_mlflow(MlflowConfig(tracking_uri="http://127.0.0.1:9"))
    assert time.perf_counter() - started < 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A real `mlflow server` on loopback whose backend store is a fresh PostgreSQL database."""
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    database = f"churnguard_mlflow_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{database}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        reason = f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc.orig}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    backend = (
        sa.engine.make_url(POSTGRES_URL)
        .set(database=database)
        .render_as_string(hide_password=False)
    )
    port = _free_port()
    artifacts = tmp_path_factory.mktemp("mlflow-server-artifacts")
    env = os.environ | {
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("mlflow")),
            "server",
            "--backend-store-uri",
            backend,
            "--artifacts-destination",
            str(artifacts),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if server.poll() is not None:
                pytest.fail(
                    f"mlflow server exited: {server.stderr.read().decode()[-2000:] if server.stderr else ''}"
                )
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("mlflow server did not become healthy within 90 s")
        yield url, backend
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        if server.stderr:
            server.stderr.close()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.integration
def test_training_runs_through_a_postgresql_backed_mlflow_server(
    postgres_mlflow_server: tuple[str, str], project_config: ChurnguardConfig
) -> None:
    url, backend = postgres_mlflow_server
    config = project_config.model_validate(
        project_config.model_dump()
        | {
            "mlflow": {"tracking_uri": url, "experiment": f"server-{uuid.uuid4().hex[:6]}"},
            "tuning": project_config.tuning.model_dump() | {"enabled": False},
            "model": project_config.model.model_dump() | {"calibration": "none", "cv_folds": 3},
        }
    )
    for job in (run_ingest, run_validate, run_preprocess, run_build_features):
        job(config)
    try:
        result = run_train(config)
        report = run_evaluate(config)
        client = MlflowClient(tracking_uri=url, registry_uri=url)
        run = client.get_run(result.run_id)
        assert run.info.status == "FINISHED"
        assert run.data.tags["data_sha256"] == result.data_sha256
        assert "test_roc_auc" in run.data.metrics
        version = client.get_model_version_by_alias(config.registry.model_name, "challenger")
        assert int(version.version) == result.registered_version
        assert report.metrics["roc_auc"] == pytest.approx(result.metrics["test_roc_auc"])
        artifacts = {a.path for a in client.list_artifacts(result.run_id)}
        assert {"val", "test", "explain", "reference_profile.json"} <= artifacts
        engine = sa.create_engine(backend)
        with engine.connect() as connection:
            stored = connection.execute(
                sa.text("SELECT status FROM runs WHERE run_uuid = :id"), {"id": result.run_id}
            ).scalar_one()
        engine.dispose()
        assert stored == "FINISHED"
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
