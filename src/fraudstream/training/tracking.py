"""MLflow wiring: tracking store, run provenance tags, and logging/loading fraud models.

Embedded mode (default) needs no server: a sqlite database plus a local artifact folder. Server
mode points ``mlflow.tracking_uri`` at an ``mlflow server`` (for example one backed by
PostgreSQL); it is probed first so an unreachable server is one clear error, not minutes of
retries.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any, Final

import httpx
import mlflow
import pandas as pd
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo

from fraudstream import __version__
from fraudstream.errors import FraudstreamError
from fraudstream.feature_store import FEATURE_NAMES
from fraudstream.training.model_loading import LoadedModel, load_model
from fraudstream.training.model_metadata import ModelMetadata, check_current_features
from fraudstream.training.registry_config import MlflowConfig
from fraudstream.training.serialization import TRUSTED_TYPES, check_trusted

#: Packages whose versions are tagged on every run and pinned in every logged model.
_PINNED: Final = ("scikit-learn", "lightgbm", "pandas", "numpy", "scipy", "skops", "mlflow")
#: The artifact name of the model inside its run.
MODEL_ARTIFACT: Final = "model"
#: Rows of the feature vector stored with the model as its input example.
_EXAMPLE_ROWS: Final = 5


class TrackingUnavailableError(FraudstreamError):
    """The MLflow tracking server cannot be reached (the registry lives there too)."""

    exit_code = 8


def _probe_server(uri: str) -> None:
    try:
        response = httpx.get(f"{uri.rstrip('/')}/health", timeout=5.0)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        msg = (
            f"the MLflow tracking server at {uri} is unreachable ({type(exc).__name__}): start it, "
            "fix FRAUDSTREAM_MLFLOW_TRACKING_URI, or unset it to use the embedded sqlite store"
        )
        raise TrackingUnavailableError(msg) from exc


def configure_mlflow(config: MlflowConfig, *, experiment: bool = True) -> str | None:
    """Point MLflow at the configured stores and make sure the experiment exists.

    With ``experiment=False`` (serving, the registry commands) nothing is created: they only
    read and write the registry.

    Returns:
        The experiment id, or ``None`` when ``experiment`` is false.

    Raises:
        TrackingUnavailableError: a tracking server URI does not answer.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = config.tracking_uri
    remote = uri.startswith(("http://", "https://"))
    if remote:
        _probe_server(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(config.registry_uri or uri)
    if not experiment:
        return None
    found = mlflow.get_experiment_by_name(config.experiment)
    if found is not None:
        experiment_id = str(found.experiment_id)
    else:
        # A local store gets an absolute artifact folder, so the runs do not depend on the cwd.
        location = None if remote else _absolute_uri(config.artifact_location)
        experiment_id = mlflow.create_experiment(config.experiment, artifact_location=location)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def _absolute_uri(location: str) -> str:
    return location if "://" in location else Path(location).resolve().as_uri()


def _git_commit() -> str:
    git = shutil.which("git")
    if git is None:
        return "unknown"
    try:
        result = subprocess.run(  # noqa: S603 - fixed arguments, resolved executable
            [git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"


def config_hash(resolved: dict[str, Any]) -> str:
    """sha256 of the resolved configuration (canonical JSON)."""
    return hashlib.sha256(json.dumps(resolved, sort_keys=True, default=str).encode()).hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of fraudstream and of the packages a model depends on."""
    return {"fraudstream": __version__} | {name: version(name) for name in _PINNED}


def provenance_tags(data_sha256: str, resolved_config: dict[str, Any]) -> dict[str, str]:
    """Run tags that make training reproducible: data hash, git commit, config hash, versions."""
    tags = {
        "data_sha256": data_sha256,
        "git_commit": _git_commit(),
        "config_hash": config_hash(resolved_config),
    }
    return tags | {f"version.{name}": value for name, value in package_versions().items()}


def _check_inputs(input_example: pd.DataFrame, metadata: ModelMetadata) -> pd.DataFrame:
    """The first rows of ``input_example`` as the feature vector, checked against the metadata."""
    check_current_features(metadata, "the model to log")
    missing = [name for name in FEATURE_NAMES if name not in input_example.columns]
    if missing:
        msg = f"the input example lacks feature column(s) {', '.join(missing)}: pass rows of the feature table"
        raise ValueError(msg)
    return input_example.loc[:, list(FEATURE_NAMES)].head(_EXAMPLE_ROWS)


@contextlib.contextmanager
def _quiet_mlflow_hints() -> Iterator[None]:
    with warnings.catch_warnings():
        # MLflow hints that integer columns cannot hold missing values; feature columns never
        # do (the feature computation fills every value).
        warnings.filterwarnings(
            "ignore", message="Hint: Inferred schema contains integer", category=UserWarning
        )
        # MLflow inspects the classifier's type hints (``X: Any``) although an explicit
        # signature is given; the signature is what validates inputs.
        warnings.filterwarnings(
            "ignore", message=".*Any type hint is inferred as AnyType", category=UserWarning
        )
        # MLflow 3.17 compares the example's columns with a ``range`` when saving it, which
        # pandas 3 deprecates (Pandas4Warning); nothing a fraudstream user can act on.
        warnings.filterwarnings("ignore", message="Operation with range is deprecated")
        yield


def log_model(estimator: Any, input_example: pd.DataFrame, metadata: ModelMetadata) -> ModelInfo:
    """Log a fitted fraud classifier to the active run with skops, never pickle.

    The model is saved with its signature (the feature vector in, the fraud probability out), a
    few rows of ``input_example``, pinned requirements and ``metadata`` (threshold, alert
    budget, feature definition, test window and metrics) in its MLmodel file, so they travel
    with it to the registry and to serving.

    Args:
        estimator: A fitted classifier taking the :data:`~fraudstream.feature_store.FEATURE_NAMES`
            columns, whose ``predict_proba(X)[:, 1]`` is the fraud probability.
        input_example: Rows of the feature table (extra columns are dropped).
        metadata: What travels with the model.

    Returns:
        MLflow's description of the logged model (``model_uri``, ``run_id``, ...).

    Raises:
        ModelLoadError: the estimator holds a type outside the skops allow-list, or the metadata
            names other features than this fraudstream computes.
        ValueError: the input example lacks feature columns, or no run is active.
    """
    check_trusted(estimator)
    example = _check_inputs(input_example, metadata)
    if mlflow.active_run() is None:
        msg = "log_model needs an active MLflow run (inside `with mlflow.start_run():`): the run holds the model's provenance"
        raise ValueError(msg)
    with _quiet_mlflow_hints():
        signature = infer_signature(example, estimator.predict_proba(example)[:, 1])
        info: ModelInfo = mlflow.sklearn.log_model(
            estimator,
            name=MODEL_ARTIFACT,
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
            skops_trusted_types=list(TRUSTED_TYPES),
            signature=signature,
            input_example=example,
            pip_requirements=[
                f"{name}=={value}"
                for name, value in package_versions().items()
                if name != "fraudstream"
            ],
            pyfunc_predict_fn="predict_proba",
            metadata=metadata.model_dump(mode="json"),
        )
    return info


__all__ = [
    "MODEL_ARTIFACT",
    "LoadedModel",
    "TrackingUnavailableError",
    "config_hash",
    "configure_mlflow",
    "load_model",
    "log_model",
    "package_versions",
    "provenance_tags",
]
