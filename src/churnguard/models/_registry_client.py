"""What the registry commands and the quality gate share: the MLflow client and the aliases.

churnguard tags the registered models it creates ``churnguard.managed=true`` and refuses to
touch a model of the same name without that tag (:func:`managed_model`).
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from datetime import datetime
from typing import Final

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST, ErrorCode

from churnguard.config import ChurnguardConfig
from churnguard.models.history import RegistryError
from churnguard.models.tracking import configure_mlflow

CHALLENGER: Final = "challenger"
CHAMPION: Final = "champion"
#: Registered-model tag marking a model as created (and so owned) by churnguard.
MANAGED_TAG: Final = "churnguard.managed"
DECISION_TAG: Final = "gate.decision"


def default_actor() -> str:
    """The login name of whoever runs the command, or ``unknown``."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        return "unknown"


def has_code(exc: MlflowException, code: int) -> bool:
    """Whether ``exc`` carries the MLflow error ``code``."""
    return bool(exc.error_code == ErrorCode.Name(code))


def connect(config: ChurnguardConfig) -> tuple[MlflowClient, str]:
    """A client of the configured tracking server and the registered model's name."""
    configure_mlflow(config.mlflow)
    return MlflowClient(), config.registry.model_name


def _create_managed(client: MlflowClient, name: str) -> RegisteredModel:
    try:
        return client.create_registered_model(name, tags={MANAGED_TAG: "true"})
    except MlflowException as exc:  # created meanwhile by another process: check that one
        if not has_code(exc, RESOURCE_ALREADY_EXISTS):
            raise
        return client.get_registered_model(name)


def managed_model(client: MlflowClient, name: str, *, create: bool) -> RegisteredModel | None:
    """The registered model ``name`` if churnguard owns it; when absent None, or created."""
    try:
        model = client.get_registered_model(name)
    except MlflowException as exc:
        if not has_code(exc, RESOURCE_DOES_NOT_EXIST):
            raise
        if not create:
            return None
        model = _create_managed(client, name)
    if model.tags.get(MANAGED_TAG) != "true":
        msg = (
            f"the MLflow registry already holds a model named '{name}' that churnguard did not "
            f"create (it lacks the tag {MANAGED_TAG}=true): pick another registry.model_name "
            "(or CHURNGUARD_REGISTRY_MODEL_NAME) so churnguard leaves that model alone"
        )
        raise RegistryError(msg)
    return model


def aliased(client: MlflowClient, model: RegisteredModel, alias: str) -> ModelVersion | None:
    """The version ``alias`` points at, or None when the alias is not set."""
    version = model.aliases.get(alias)
    return None if version is None else client.get_model_version(model.name, str(version))


def set_tags(client: MlflowClient, name: str, version: int, tags: Mapping[str, str]) -> None:
    """Set ``tags`` on version ``version`` of the registered model ``name``."""
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, value)


def decision_tags(decision: str, reason: str, at: datetime, by: str) -> dict[str, str]:
    """The ``gate.*`` tags recording a gate or rollback decision on a version."""
    stamp = at.isoformat(timespec="seconds")
    return {
        DECISION_TAG: decision,
        "gate.reason": reason,
        "gate.decided_at": stamp,
        "gate.decided_by": by,
    }


__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "DECISION_TAG",
    "MANAGED_TAG",
    "aliased",
    "connect",
    "decision_tags",
    "default_actor",
    "has_code",
    "managed_model",
    "set_tags",
]
