"""The model registry: registration, challenger and champion aliases, rollback and listing.

``churnguard train`` registers each trained model as a new version of ``registry.model_name``
and points the ``challenger`` alias at it. :func:`promote`, the quality gate that moves the
``champion`` alias, lives in :mod:`churnguard.models.gate` and is re-exported here.
:func:`rollback` restores the champion before the current one.

churnguard tags the registered models it creates ``churnguard.managed=true`` and refuses to
touch a model of the same name without that tag.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST
from pydantic import AwareDatetime, BaseModel, ConfigDict

from churnguard.config import ChurnguardConfig
from churnguard.models._registry_client import (
    CHALLENGER,
    CHAMPION,
    DECISION_TAG,
    MANAGED_TAG,
    connect,
    decision_tags,
    default_actor,
    has_code,
    managed_model,
    set_tags,
)
from churnguard.models.gate import promote
from churnguard.models.history import (
    HistoryEntry,
    PromotionDecision,
    RegistryError,
    append_history,
    earlier_champion,
    read_history,
)
from churnguard.models.tracking import model_file_sha256

METRIC_TAG_PREFIX: Final = "metric."
#: Version tag holding the sha256 of the model file; serving refuses a file that differs.
MODEL_SHA_TAG: Final = "model_sha256"


class VersionSummary(BaseModel):
    """One registered version as ``churnguard models list`` shows it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    aliases: tuple[str, ...]
    run_id: str
    created_at: AwareDatetime
    roc_auc: float | None
    gate_decision: str | None


def _tagged_metrics(version: ModelVersion) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for key, value in version.tags.items():
        if not key.startswith(METRIC_TAG_PREFIX):
            continue
        try:
            number = float(value)
        except ValueError:  # a hand-edited tag, not one churnguard wrote
            continue
        if math.isfinite(number):
            metrics[key.removeprefix(METRIC_TAG_PREFIX)] = number
    return metrics


def register_challenger(
    model_uri: str,
    run_id: str,
    metrics: Mapping[str, float],
    data_sha256: str,
    config: ChurnguardConfig,
) -> int:
    """Register a logged model as a new version and point the challenger alias at it.

    Args:
        model_uri: The ``models:/m-...`` URI returned by ``log_model``.
        run_id: The training run.
        metrics: Evaluation metrics, tagged on the version as ``metric.<name>``.
        data_sha256: The hash of the training data.
        config: Tracking settings and ``registry.model_name``.

    Returns:
        The new version number.

    Raises:
        RegistryError: a registered model of that name exists and churnguard does not own it.
    """
    client, name = connect(config)
    managed_model(client, name, create=True)
    tags = {
        "run_id": run_id,
        "data_sha256": data_sha256,
        MODEL_SHA_TAG: model_file_sha256(model_uri),
    }
    tags |= {f"{METRIC_TAG_PREFIX}{key}": repr(float(value)) for key, value in metrics.items()}
    version = int(mlflow.register_model(model_uri, name, tags=tags).version)
    client.set_registered_model_alias(name, CHALLENGER, str(version))
    return version


def rollback(config: ChurnguardConfig, *, actor: str | None = None) -> HistoryEntry:
    """Make the champion before the current one champion again.

    "Before" comes from the audit history (:func:`~churnguard.models.history.champion_lineage`):
    each rollback steps one champion further back (v1, v2, v3 promoted in turn: a rollback
    restores v2, the next one v1). The demoted version is tagged ``gate.decision=rolled_back`` and
    loses the challenger alias if it holds it, so a plain ``churnguard promote`` cannot put it
    straight back; the restored one is tagged ``gate.restored_at``.

    Raises:
        RegistryError: no champion, no earlier champion in the history, or the history and the
            registry disagree on who is champion.
    """
    client, name = connect(config)
    registered = managed_model(client, name, create=False)
    current = None if registered is None else registered.aliases.get(CHAMPION)
    if registered is None or current is None:
        msg = f"no champion to roll back: registered model '{name}' has no '{CHAMPION}' alias"
        raise RegistryError(msg)
    demoted = int(current)
    target = earlier_champion(config.registry.history_file, name, demoted)
    try:
        restored = client.get_model_version(name, str(target))
    except MlflowException as exc:
        if not has_code(exc, RESOURCE_DOES_NOT_EXIST):
            raise
        msg = f"cannot roll back to version {target} of '{name}' (the champion before version {demoted}): it was deleted from the registry"
        raise RegistryError(msg) from exc
    at, by = datetime.now(UTC), actor or default_actor()
    reason = (
        f"rolled back from version {demoted} to version {restored.version}, the champion before it"
    )
    client.set_registered_model_alias(name, CHAMPION, str(restored.version))
    if str(registered.aliases.get(CHALLENGER)) == str(demoted):
        client.delete_registered_model_alias(name, CHALLENGER)
    set_tags(client, name, demoted, decision_tags("rolled_back", reason, at, by))
    set_tags(
        client, name, int(restored.version), {"gate.restored_at": at.isoformat(timespec="seconds")}
    )
    entry = HistoryEntry(
        action="rollback",
        model_name=name,
        version=int(restored.version),
        previous_champion=demoted,
        run_id=restored.run_id or "",
        metrics={f"restored.{k}": v for k, v in _tagged_metrics(restored).items()},
        data_sha256=restored.tags.get("data_sha256", "unknown"),
        at=at,
        by=by,
        reason=reason,
    )
    append_history(config.registry.history_file, entry)
    return entry


def list_versions(config: ChurnguardConfig) -> list[VersionSummary]:
    """Every version of the registered model, newest first, with aliases and gate decision.

    Raises:
        RegistryError: a model of that name exists that churnguard does not own.
    """
    client, name = connect(config)
    registered = managed_model(client, name, create=False)
    if registered is None:
        return []
    aliases: dict[int, list[str]] = {}
    for alias, number in registered.aliases.items():
        aliases.setdefault(int(number), []).append(alias)
    quote = "'" if '"' in name else '"'  # MLflow's filter grammar has no escapes
    summaries = [
        VersionSummary(
            version=int(item.version),
            aliases=tuple(sorted(aliases.get(int(item.version), []))),
            run_id=item.run_id or "",
            created_at=datetime.fromtimestamp(item.creation_timestamp / 1000, tz=UTC),
            roc_auc=_tagged_metrics(item).get("test_roc_auc", _tagged_metrics(item).get("roc_auc")),
            gate_decision=item.tags.get(DECISION_TAG),
        )
        for item in client.search_model_versions(f"name = {quote}{name}{quote}")
    ]
    return sorted(summaries, key=lambda summary: summary.version, reverse=True)


__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "MANAGED_TAG",
    "MODEL_SHA_TAG",
    "HistoryEntry",
    "PromotionDecision",
    "RegistryError",
    "VersionSummary",
    "list_versions",
    "promote",
    "read_history",
    "register_challenger",
    "rollback",
]
