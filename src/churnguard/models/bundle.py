"""What a served model is: its registry record, and exported bundles that carry that record.

A bundle is the MLflow model folder of one registered version plus ``churnguard_bundle.json``
(name, version, run, metrics, the model file's sha256), so a container can serve it without a
tracking server and still report — and verify — exactly which version it is. It also carries the
version's ``drift_reference.json`` (from the model folder, or else from its training run), so the
container can monitor drift offline.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Final

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from pydantic import BaseModel, ConfigDict, ValidationError

from churnguard.io import write_model_json
from churnguard.models.registry import METRIC_TAG_PREFIX, MODEL_SHA_TAG
from churnguard.models.serialization import ModelLoadError
from churnguard.models.tracking import load_model
from churnguard.monitoring.reference import (
    DRIFT_REFERENCE_FILE,
    DriftReferenceError,
    read_drift_reference,
)

MANIFEST_NAME: Final = "churnguard_bundle.json"
logger = logging.getLogger(__name__)


class ModelRecord(BaseModel):
    """The registry's record of one model version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str
    alias: str | None = None
    run_id: str | None = None
    data_sha256: str | None = None
    model_sha256: str | None = None
    metrics: dict[str, float] = {}


def parse_alias_uri(model_uri: str) -> tuple[str, str] | None:
    """``models:/name@alias`` → ``(name, alias)``; ``None`` for other URIs."""
    if not model_uri.startswith("models:/") or "@" not in model_uri:
        return None
    name, alias = model_uri.removeprefix("models:/").split("@", 1)
    return name, alias


def registry_record(name: str, alias: str) -> ModelRecord:
    """The version behind ``alias`` of registered model ``name``.

    Raises:
        MlflowException: the model or alias does not exist.
    """
    version = MlflowClient().get_model_version_by_alias(name, alias)
    metrics = {
        key.removeprefix(METRIC_TAG_PREFIX): float(value)
        for key, value in version.tags.items()
        if key.startswith(METRIC_TAG_PREFIX)
    }
    return ModelRecord(
        name=name,
        version=str(version.version),
        alias=alias,
        run_id=version.run_id,
        data_sha256=version.tags.get("data_sha256"),
        model_sha256=version.tags.get(MODEL_SHA_TAG),
        metrics=metrics,
    )


def read_manifest(bundle: Path) -> ModelRecord | None:
    """The record of an exported bundle; ``None`` for a bare MLflow model folder.

    Raises:
        ModelLoadError: the manifest exists but is not valid.
    """
    path = bundle / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        return ModelRecord.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        msg = f"{path} is not a valid churnguard bundle manifest ({exc}); export the bundle again"
        raise ModelLoadError(msg) from exc


def _copy_drift_reference(local: Path, record: ModelRecord) -> None:
    """Make sure the bundle folder ``local`` holds a valid drift reference, if there is one.

    Models logged by ``churnguard train`` carry it in their folder; older ones only as a run
    artifact. A bundle without it still serves (drift monitoring is then unavailable).
    """
    path = local / DRIFT_REFERENCE_FILE
    if not path.is_file() and record.run_id:
        # Best effort: a missing artifact is an ordinary outcome for older models.
        with contextlib.suppress(MlflowException, OSError):
            mlflow.artifacts.download_artifacts(
                run_id=record.run_id, artifact_path=DRIFT_REFERENCE_FILE, dst_path=str(local)
            )
    if not path.is_file():
        logger.warning(
            "the bundle of %s version %s has no %s (neither in the model folder nor in run %s): "
            "drift monitoring will be unavailable",
            record.name,
            record.version,
            DRIFT_REFERENCE_FILE,
            record.run_id,
        )
        return
    try:
        read_drift_reference(path)
    except DriftReferenceError as exc:
        path.unlink()
        logger.warning("drift reference left out of the bundle: %s", exc)


def export_bundle(model_uri: str, output: Path) -> ModelRecord:
    """Copy the registered version behind ``model_uri`` into ``output`` with its record.

    The model is downloaded, checked against the recorded hash and loaded once (so a bundle that
    would not serve is never written); its drift reference is added when the registry has one;
    ``output`` is then replaced in one rename.

    Raises:
        ModelLoadError: the URI is not ``models:/name@alias`` or the model fails its checks.
    """
    parsed = parse_alias_uri(model_uri)
    if parsed is None:
        msg = (
            f"export needs a registry alias URI like models:/churnguard@champion, got {model_uri!r}"
        )
        raise ModelLoadError(msg)
    try:
        record = registry_record(*parsed)
    except MlflowException as exc:
        msg = f"no model at {model_uri}: {exc.message.splitlines()[0]}; train and promote one first"
        raise ModelLoadError(msg) from exc
    pinned = f"models:/{record.name}/{record.version}"
    load_model(pinned, expected_sha256=record.model_sha256)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}-", dir=output.parent))
    try:
        local = Path(
            mlflow.artifacts.download_artifacts(artifact_uri=pinned, dst_path=str(staging))
        )
        write_model_json(local / MANIFEST_NAME, record)
        _copy_drift_reference(local, record)
        previous = output.with_name(f".{output.name}.old")
        if output.exists():
            output.rename(previous)
        local.rename(output)
        shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return record


__all__ = [
    "MANIFEST_NAME",
    "ModelRecord",
    "export_bundle",
    "parse_alias_uri",
    "read_manifest",
    "registry_record",
]
