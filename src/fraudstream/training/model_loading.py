"""Loading a fraud model back from MLflow, refusing anything unsafe or stale.

A model is loaded only when its file has the recorded sha256, it is a skops file holding types of
fraudstream's allow-list, and it was trained on the feature declaration this fraudstream computes.
Registered versions (``models:/name/3``, ``models:/name@champion``) are checked against the sha256
recorded when they were registered.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import mlflow
import numpy as np
import numpy.typing as npt
import pandas as pd
from lightgbm import LGBMClassifier
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import Model

from fraudstream.io import sha256_file
from fraudstream.training.model_metadata import (
    ModelMetadata,
    check_current_features,
    read_metadata,
)
from fraudstream.training.serialization import ModelLoadError, load_local_estimator, model_file

#: Registered-version tag holding the sha256 of the model file, written at registration.
MODEL_SHA_TAG: Final = "model_sha256"
_REGISTRY_SCHEME: Final = "models:/"


@dataclass(frozen=True)
class LoadedModel:
    """A fraud model loaded from MLflow, with the metadata that travels with it.

    Attributes:
        estimator: The fitted classifier.
        metadata: Threshold, alert budget, feature definition, test window and metrics.
        model_uri: Where it was loaded from.
        model_sha256: The sha256 of its serialized file.
        version: The registered version (None when loaded by run, model id or path).
        created_at: When it was saved, in UTC (None when MLflow did not record it).
    """

    estimator: Any
    metadata: ModelMetadata
    model_uri: str
    model_sha256: str
    version: int | None = None
    created_at: datetime | None = None

    @property
    def threshold(self) -> float:
        """The decision threshold: a fraud probability at or above it raises an alert."""
        return self.metadata.threshold

    def predict_proba(self, features: pd.DataFrame) -> npt.NDArray[np.float64]:
        """The fraud probability of each row of ``features`` (the model's columns are taken).

        Raises:
            ValueError: a feature column of the model is missing.
        """
        names = list(self.metadata.feature_names)
        missing = [name for name in names if name not in features.columns]
        if missing:
            msg = f"cannot score: the feature frame lacks column(s) {', '.join(missing)}"
            raise ValueError(msg)
        return self.predict_proba_values(features.loc[:, names].to_numpy(dtype=np.float64))

    def predict_proba_values(self, values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The fraud probability of each row of a matrix whose columns are the model's features.

        The one scoring path (:meth:`predict_proba` ends here): LightGBM's booster is called on
        the matrix directly, without the frame checks of scikit-learn's wrapper, which cost
        milliseconds per call (a stream's small batches).
        """
        if isinstance(self.estimator, LGBMClassifier):
            return np.asarray(self.estimator.booster_.predict(values), dtype=np.float64)
        frame = pd.DataFrame(values, columns=list(self.metadata.feature_names))
        return np.asarray(self.estimator.predict_proba(frame)[:, 1], dtype=np.float64)


@dataclass(frozen=True)
class _Source:
    """What to download, and what the registry knows of it."""

    uri: str
    version: int | None = None
    recorded_sha256: str | None = None


def _registered_reference(model_uri: str) -> tuple[str, str, bool] | None:
    """``(name, version or alias, is_alias)`` of a ``models:/`` URI naming a registered model."""
    if not model_uri.startswith(_REGISTRY_SCHEME):
        return None
    rest = model_uri.removeprefix(_REGISTRY_SCHEME)
    if "@" in rest:
        name, alias = rest.rsplit("@", 1)
        return name, alias, True
    name, _, number = rest.rpartition("/")
    return (name, number, False) if name and number.isdigit() else None


def _resolve(model_uri: str) -> _Source:
    """Pin an alias to its version (so it cannot move mid-load) and read the recorded hash."""
    reference = _registered_reference(model_uri)
    if reference is None:
        return _Source(model_uri)
    name, ref, is_alias = reference
    client = MlflowClient()
    try:
        found = (
            client.get_model_version_by_alias(name, ref)
            if is_alias
            else client.get_model_version(name, ref)
        )
    except MlflowException as exc:
        msg = (
            f"cannot load {model_uri}: the registry at {mlflow.get_registry_uri()} has no such "
            f"version ({exc.message}); list the versions with `fraudstream models list`"
        )
        raise ModelLoadError(msg) from exc
    version = int(found.version)
    return _Source(f"{_REGISTRY_SCHEME}{name}/{version}", version, found.tags.get(MODEL_SHA_TAG))


def _local_folder(uri: str, scratch: str) -> Path:
    """The model folder: a local directory is read in place, anything else is downloaded."""
    in_place = Path(uri)
    if "://" not in uri and ":/" not in uri and in_place.is_dir():
        return in_place
    try:
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=scratch))
    except (MlflowException, OSError) as exc:
        msg = f"cannot download the model {uri}: {type(exc).__name__}: {exc}"
        raise ModelLoadError(msg) from exc


def _created_at(text: str | None) -> datetime | None:
    """The MLmodel file's ``utc_time_created`` (naive UTC text) as an aware time."""
    try:
        return datetime.fromisoformat(str(text)).replace(tzinfo=UTC) if text else None
    except ValueError:
        return None


def load_model(model_uri: str, expected_sha256: str | None = None) -> LoadedModel:
    """Download and load a fraud model, refusing anything unsafe or trained on other features.

    Args:
        model_uri: ``models:/name/3``, ``models:/name@champion``, ``models:/m-...``,
            ``runs:/<run>/model`` or a local model folder.
        expected_sha256: The model file's expected hash; without it, a registered version is
            checked against the hash recorded at registration.

    Raises:
        ModelLoadError: no such model, a file whose hash differs, missing metadata, a format
            other than skops or a type outside the allow-list.
        FeatureDefinitionMismatchError: the model was trained on another feature declaration
            (a :class:`ModelLoadError` too).
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    source = _resolve(model_uri)
    expected = expected_sha256 or source.recorded_sha256
    with tempfile.TemporaryDirectory(prefix="fraudstream-model-") as scratch:
        folder = _local_folder(source.uri, scratch)
        file = model_file(folder)
        digest = sha256_file(file) if file.is_file() else ""
        if expected is not None and digest != expected:
            msg = (
                f"refusing {model_uri}: its model file has sha256 {digest or '(file missing)'}, "
                f"expected {expected}; the artifact was changed or corrupted: restore it or "
                "register a freshly trained model"
            )
            raise ModelLoadError(msg)
        description = Model.load(str(folder))
        metadata = read_metadata(description.metadata, model_uri)
        check_current_features(metadata, model_uri)
        estimator = load_local_estimator(folder)
    return LoadedModel(
        estimator=estimator,
        metadata=metadata,
        model_uri=model_uri,
        model_sha256=digest,
        version=source.version,
        created_at=_created_at(description.utc_time_created),
    )


__all__ = ["MODEL_SHA_TAG", "LoadedModel", "load_model"]
