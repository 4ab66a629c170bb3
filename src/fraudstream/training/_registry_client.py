"""What the registry functions share: the MLflow client, the aliases and the decision tags.

fraudstream tags the registered models it creates ``fraudstream.managed=true`` and refuses to
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

from fraudstream.training.history import RegistryError
from fraudstream.training.registry_config import RegistrySections
from fraudstream.training.tracking import configure_mlflow

CHALLENGER: Final = "challenger"
CHAMPION: Final = "champion"
#: Registered-model tag marking a model as created (and so owned) by fraudstream.
MANAGED_TAG: Final = "fraudstream.managed"
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


def connect(sections: RegistrySections) -> tuple[MlflowClient, str]:
    """A client of the configured registry and the registered model's name."""
    configure_mlflow(sections.mlflow, experiment=False)
    return MlflowClient(), sections.registry.model_name


def _create_managed(client: MlflowClient, name: str) -> RegisteredModel:
    try:
        return client.create_registered_model(name, tags={MANAGED_TAG: "true"})
    except MlflowException as exc:  # created meanwhile by another process: check that one
        if not has_code(exc, RESOURCE_ALREADY_EXISTS):
            raise
        return client.get_registered_model(name)


def managed_model(client: MlflowClient, name: str, *, create: bool) -> RegisteredModel | None:
    """The registered model ``name`` if fraudstream owns it; when absent None, or created.

    Raises:
        RegistryError: a model of that name exists that fraudstream did not create.
    """
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
            f"the MLflow registry already holds a model named '{name}' that fraudstream did not "
            f"create (it lacks the tag {MANAGED_TAG}=true): pick another registry.model_name "
            "(or FRAUDSTREAM_REGISTRY_MODEL_NAME) so fraudstream leaves that model alone"
        )
        raise RegistryError(msg)
    return model


def model_version(client: MlflowClient, name: str, version: int) -> ModelVersion | None:
    """Version ``version`` of ``name``, or None when it does not exist (or was deleted)."""
    try:
        return client.get_model_version(name, str(version))
    except MlflowException as exc:
        if not has_code(exc, RESOURCE_DOES_NOT_EXIST):
            raise
        return None


def set_tags(client: MlflowClient, name: str, version: int, tags: Mapping[str, str]) -> None:
    """Set ``tags`` on version ``version`` of the registered model ``name``."""
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, value)


def decision_tags(decision: str, reason: str, at: datetime, by: str) -> dict[str, str]:
    """The ``gate.*`` tags recording a gate or rollback decision on a version."""
    return {
        DECISION_TAG: decision,
        "gate.reason": reason,
        "gate.decided_at": at.isoformat(timespec="seconds"),
        "gate.decided_by": by,
    }


__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "DECISION_TAG",
    "MANAGED_TAG",
    "connect",
    "decision_tags",
    "default_actor",
    "has_code",
    "managed_model",
    "model_version",
    "set_tags",
]
