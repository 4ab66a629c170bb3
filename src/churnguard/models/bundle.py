"""What a served model is: its registry record, and exported bundles that carry that record.

A bundle is the MLflow model folder of one registered version plus ``churnguard_bundle.json``
(name, version, run, metrics, the model file's sha256), so a container can serve it without a
tracking server and still report — and verify — exactly which version it is.
"""

from __future__ import annotations

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

MANIFEST_NAME: Final = "churnguard_bundle.json"


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


def export_bundle(model_uri: str, output: Path) -> ModelRecord:
    """Copy the registered version behind ``model_uri`` into ``output`` with its record.

    The model is downloaded, checked against the recorded hash and loaded once (so a bundle that
    would not serve is never written); ``output`` is then replaced in one rename.

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
