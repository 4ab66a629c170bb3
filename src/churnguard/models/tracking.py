"""MLflow wiring: tracking store, run provenance tags, and logging/loading churnguard models.

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
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import mlflow
import pandas as pd
from mlflow.models import Model, infer_signature
from mlflow.models.model import ModelInfo

from churnguard import __version__
from churnguard.errors import ChurnguardError
from churnguard.io import sha256_file
from churnguard.models.config import MlflowConfig
from churnguard.models.serialization import (
    TRUSTED_TYPES,
    ModelLoadError,
    check_trusted,
    load_local_model,
)

#: Packages whose versions are tagged on every run and pinned in every logged model.
_PINNED = ("scikit-learn", "lightgbm", "pandas", "numpy", "scipy", "skops", "pyarrow", "mlflow")
_MODEL_NAME = "model"


class TrackingUnavailableError(ChurnguardError):
    """The MLflow tracking server cannot be reached."""

    exit_code = 8


def _probe_server(uri: str) -> None:
    try:
        response = httpx.get(f"{uri.rstrip('/')}/health", timeout=5.0)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        msg = (
            f"the MLflow tracking server at {uri} is unreachable ({type(exc).__name__}): start it, "
            "fix CHURNGUARD_MLFLOW_TRACKING_URI, or unset it to use the embedded sqlite store"
        )
        raise TrackingUnavailableError(msg) from exc


def configure_mlflow(config: MlflowConfig, *, experiment: bool = True) -> str | None:
    """Point MLflow at the configured stores and make sure the experiment exists.

    With ``experiment=False`` (serving, export) nothing is created: they only read the registry.

    Returns:
        The experiment id, or ``None`` when ``experiment`` is false.

    Raises:
        TrackingUnavailableError: a tracking server URI does not answer.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = config.tracking_uri
    if uri.startswith(("http://", "https://")):
        _probe_server(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(config.registry_uri or uri)
    if not experiment:
        return None
    found = mlflow.get_experiment_by_name(config.experiment)
    if found is not None:
        experiment_id = found.experiment_id
    else:
        local = not uri.startswith(("http://", "https://"))
        location = Path(config.artifact_location).resolve().as_uri() if local else None
        experiment_id = mlflow.create_experiment(config.experiment, artifact_location=location)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


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
    """Versions of churnguard and the packages a model depends on."""
    return {"churnguard": __version__} | {name: version(name) for name in _PINNED}


def provenance_tags(data_sha256: str, resolved_config: dict[str, Any]) -> dict[str, str]:
    """Tags that make a run reproducible: data hash, git commit, config hash, package versions."""
    tags = {
        "data_sha256": data_sha256,
        "git_commit": _git_commit(),
        "config_hash": config_hash(resolved_config),
    }
    return tags | {f"version.{name}": value for name, value in package_versions().items()}


@dataclass(frozen=True)
class LoadedModel:
    """A model loaded from MLflow, with the metadata that travels with it (e.g. the threshold)."""

    model: Any
    metadata: dict[str, Any]
    model_uri: str
    model_sha256: str = ""
    #: When the model was saved (the MLmodel file's ``utc_time_created``), in UTC.
    created_at: datetime | None = None


def _model_arguments(
    model: Any, input_example: pd.DataFrame, metadata: dict[str, Any]
) -> dict[str, Any]:
    """What every churnguard model is saved with: skops, signature, example, pinned requirements."""
    check_trusted(model)
    example = input_example.head(5)
    with warnings.catch_warnings():
        # MLflow hints that integer columns cannot hold missing values; ours never do (the
        # processed schema forbids them), so the hint is noise.
        warnings.filterwarnings(
            "ignore", message="Hint: Inferred schema contains integer", category=UserWarning
        )
        signature = infer_signature(example, model.predict_proba(example)[:, 1])
    requirements = [
        f"{name}=={value}" for name, value in package_versions().items() if name != "churnguard"
    ]
    return {
        "serialization_format": mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
        "skops_trusted_types": list(TRUSTED_TYPES),
        "signature": signature,
        "input_example": example,
        "pip_requirements": requirements,
        "code_paths": [str(Path(__file__).resolve().parents[1])],
        "pyfunc_predict_fn": "predict_proba",
        "metadata": metadata,
    }


@contextlib.contextmanager
def _quiet_type_hint_warning() -> Iterator[None]:
    with warnings.catch_warnings():
        # MLflow inspects the classifier's type hints (``X: Any``) although an explicit signature
        # is given; the signature is what validates inputs.
        warnings.filterwarnings(
            "ignore", message=".*Any type hint is inferred as AnyType", category=UserWarning
        )
        yield


def log_model(model: Any, input_example: pd.DataFrame, metadata: dict[str, Any]) -> ModelInfo:
    """Log ``model`` to the active run (skops, signature, input example, pinned requirements).

    ``metadata`` (threshold, calibration, data hash, ...) is stored in the MLmodel file, so it
    travels with the model to the registry and to serving.
    """
    arguments = _model_arguments(model, input_example, metadata)
    with _quiet_type_hint_warning():
        info: ModelInfo = mlflow.sklearn.log_model(model, name=_MODEL_NAME, **arguments)
    return info


def save_bundle(
    model: Any, input_example: pd.DataFrame, metadata: dict[str, Any], path: Path
) -> Path:
    """Save ``model`` as a local MLflow model folder (a bundle served without a tracking server)."""
    arguments = _model_arguments(model, input_example, metadata)
    with _quiet_type_hint_warning():
        mlflow.sklearn.save_model(model, str(path), **arguments)
    return path


def _model_file(model_dir: Path) -> Path:
    flavor = (Model.load(str(model_dir)).flavors or {}).get("sklearn") or {}
    return model_dir / str(flavor.get("pickled_model", "model.skops"))


def model_file_sha256(model_uri: str) -> str:
    """sha256 of the serialized model file behind ``model_uri`` (recorded at registration)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with tempfile.TemporaryDirectory(prefix="churnguard-model-") as tmp:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp))
        return sha256_file(_model_file(local))


def load_model(model_uri: str, expected_sha256: str | None = None) -> LoadedModel:
    """Download and load a churnguard model (``models:/name@alias``, ``runs:/…``, a path).

    Args:
        model_uri: Where the model is.
        expected_sha256: The model file's recorded hash; a file that differs is refused before
            it is deserialized.

    Raises:
        ModelLoadError: the model is not a safely loadable skops model or its hash differs.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with tempfile.TemporaryDirectory(prefix="churnguard-model-") as tmp:
        # A local folder (a bundle) is read in place; anything else is downloaded first.
        in_place = Path(model_uri)
        local = (
            in_place
            if "://" not in model_uri and ":/" not in model_uri and in_place.is_dir()
            else Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp))
        )
        file = _model_file(local)
        digest = sha256_file(file) if file.is_file() else ""
        if expected_sha256 is not None and digest != expected_sha256:
            msg = f"refusing {model_uri}: its model file has sha256 {digest or 'missing'}, the registry records {expected_sha256}; the artifact was changed or corrupted: re-register the model"
            raise ModelLoadError(msg)
        model = load_local_model(local)
        description = Model.load(str(local))
    return LoadedModel(
        model=model,
        metadata=dict(description.metadata or {}),
        model_uri=model_uri,
        model_sha256=digest,
        created_at=_created_at(description.utc_time_created),
    )


def _created_at(text: str | None) -> datetime | None:
    """The MLmodel file's ``utc_time_created`` (naive UTC text) as an aware time."""
    try:
        return datetime.fromisoformat(str(text)).replace(tzinfo=UTC) if text else None
    except ValueError:
        return None


__all__ = [
    "LoadedModel",
    "TrackingUnavailableError",
    "config_hash",
    "configure_mlflow",
    "load_model",
    "log_model",
    "model_file_sha256",
    "package_versions",
    "provenance_tags",
    "save_bundle",
]
