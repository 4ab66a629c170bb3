"""The model registry: registration, the challenger and champion aliases, rollback, listing.

Training registers each logged model as a new version of ``registry.model_name`` and points the
``challenger`` alias at it (:func:`register_challenger`). :func:`promote` (the gate that moves the
``champion`` alias, in :mod:`fraudstream.training.promotion`) is re-exported here.
:func:`rollback` restores the champion before the current one, following the audit history.

fraudstream tags the registered models it creates ``fraudstream.managed=true`` and refuses to touch
a model of the same name without that tag.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.models.model import ModelInfo
from pydantic import AwareDatetime, BaseModel, ConfigDict

from fraudstream.training._registry_client import (
    CHALLENGER,
    CHAMPION,
    DECISION_TAG,
    MANAGED_TAG,
    connect,
    decision_tags,
    default_actor,
    managed_model,
    model_version,
    set_tags,
)
from fraudstream.training.history import (
    HistoryEntry,
    RegistryError,
    append_history,
    earlier_champion,
    read_history,
)
from fraudstream.training.model_loading import MODEL_SHA_TAG, load_model
from fraudstream.training.promotion import promote
from fraudstream.training.registry_config import RegistrySections

_METRIC_TAG_PREFIX = "metric."


class VersionSummary(BaseModel):
    """One registered version as ``fraudstream models list`` shows it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    aliases: tuple[str, ...]
    run_id: str
    created_at: AwareDatetime
    test_window: str | None
    average_precision: float | None
    card_precision_top_k: float | None
    feature_definition_version: str | None
    gate_decision: str | None


def _tagged_metrics(version: ModelVersion) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for key, value in version.tags.items():
        if not key.startswith(_METRIC_TAG_PREFIX):
            continue
        try:
            number = float(value)
        except ValueError:  # a hand-edited tag, not one fraudstream wrote
            continue
        if math.isfinite(number):
            metrics[key.removeprefix(_METRIC_TAG_PREFIX)] = number
    return metrics


def register_challenger(model: ModelInfo | str, sections: RegistrySections) -> int:
    """Register a logged model as a new version and point the ``challenger`` alias at it.

    The model is loaded first, so a model that could never be served (not skops, untrusted
    types, other features) is never registered. The version is tagged with its metadata
    (threshold, alert budget, feature definition, test window, ``metric.<name>``), the sha256
    of its file (checked on every later load) and its run.

    Args:
        model: What ``log_model`` returned, or a model URI (``models:/m-...``, ``runs:/...``).
        sections: The ``mlflow`` and ``registry`` configuration sections.

    Returns:
        The new version number.

    Raises:
        ModelLoadError: the model cannot be loaded safely.
        RegistryError: a registered model of that name exists and fraudstream does not own it.
    """
    model_uri = model if isinstance(model, str) else model.model_uri
    client, name = connect(sections)
    loaded = load_model(model_uri)
    managed_model(client, name, create=True)
    tags = loaded.metadata.as_tags() | {MODEL_SHA_TAG: loaded.model_sha256}
    version = int(mlflow.register_model(model_uri, name, tags=tags).version)
    client.set_registered_model_alias(name, CHALLENGER, str(version))
    return version


def _current_champion(client: MlflowClient, name: str) -> tuple[int, int | None]:
    """The champion's version and the challenger's (None when that alias is not set)."""
    registered = managed_model(client, name, create=False)
    current = None if registered is None else registered.aliases.get(CHAMPION)
    if registered is None or current is None:
        msg = f"no champion to roll back: registered model '{name}' has no '{CHAMPION}' alias"
        raise RegistryError(msg)
    challenger = registered.aliases.get(CHALLENGER)
    return int(current), None if challenger is None else int(challenger)


def rollback(sections: RegistrySections, *, actor: str | None = None) -> HistoryEntry:
    """Make the champion before the current one champion again, and record it.

    "Before" comes from the audit history (:func:`~fraudstream.training.history.champion_lineage`):
    each rollback steps one champion further back. The demoted version is tagged
    ``gate.decision=rolled_back`` and loses the challenger alias if it holds it, so that it is
    not promoted straight back; the restored one is tagged ``gate.restored_at``.

    Raises:
        RegistryError: no champion, no earlier champion in the history, the history and the
            registry disagree on who is champion, or the earlier champion was deleted.
    """
    client, name = connect(sections)
    demoted, challenger = _current_champion(client, name)
    target = earlier_champion(sections.registry.history_file, name, demoted)
    restored = model_version(client, name, target)
    if restored is None:
        msg = f"cannot roll back to version {target} of '{name}' (the champion before version {demoted}): it was deleted from the registry"
        raise RegistryError(msg)
    at, by = datetime.now(UTC), actor or default_actor()
    reason = f"rolled back from version {demoted} to version {target}, the champion before it"
    client.set_registered_model_alias(name, CHAMPION, str(target))
    if challenger == demoted:
        client.delete_registered_model_alias(name, CHALLENGER)
    set_tags(client, name, demoted, decision_tags("rolled_back", reason, at, by))
    set_tags(client, name, target, {"gate.restored_at": at.isoformat(timespec="seconds")})
    entry = HistoryEntry(
        action="rollback",
        model_name=name,
        version=target,
        previous_champion=demoted,
        run_id=restored.run_id or "",
        metrics={f"restored.{k}": v for k, v in _tagged_metrics(restored).items()},
        at=at,
        by=by,
        reason=reason,
    )
    append_history(sections.registry.history_file, entry)
    return entry


def _summary(item: ModelVersion, aliases: tuple[str, ...]) -> VersionSummary:
    metrics = _tagged_metrics(item)
    return VersionSummary(
        version=int(item.version),
        aliases=aliases,
        run_id=item.run_id or "",
        created_at=datetime.fromtimestamp(item.creation_timestamp / 1000, tz=UTC),
        test_window=item.tags.get("test_window"),
        average_precision=metrics.get("average_precision"),
        card_precision_top_k=metrics.get("card_precision_top_k"),
        feature_definition_version=item.tags.get("feature_definition_version"),
        gate_decision=item.tags.get(DECISION_TAG),
    )


def list_versions(sections: RegistrySections) -> list[VersionSummary]:
    """Every version of the registered model, newest first, with aliases and gate decision.

    Raises:
        RegistryError: a model of that name exists that fraudstream does not own.
    """
    client, name = connect(sections)
    registered = managed_model(client, name, create=False)
    if registered is None:
        return []
    aliases: dict[int, list[str]] = {}
    for alias, number in registered.aliases.items():
        aliases.setdefault(int(number), []).append(alias)
    quote = "'" if '"' in name else '"'  # MLflow's filter grammar has no escapes
    found = client.search_model_versions(f"name = {quote}{name}{quote}")
    summaries = [_summary(v, tuple(sorted(aliases.get(int(v.version), [])))) for v in found]
    return sorted(summaries, key=lambda summary: summary.version, reverse=True)


__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "MANAGED_TAG",
    "MODEL_SHA_TAG",
    "HistoryEntry",
    "RegistryError",
    "VersionSummary",
    "list_versions",
    "promote",
    "read_history",
    "register_challenger",
    "rollback",
]
