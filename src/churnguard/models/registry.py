"""The model registry: challenger and champion aliases, the quality gate and rollback.

``churnguard train`` registers each trained model as a new version of ``registry.model_name``
and points the ``challenger`` alias at it. :func:`promote` is the quality gate: it scores the
challenger and the ``champion`` (the version being served) on the same test split and moves the
``champion`` alias only when the challenger passes every rule. Each decision is recorded as
``gate.*`` tags on the challenger version and in the audit history file
(:mod:`churnguard.models.history`). :func:`rollback` restores the champion before the current one.

churnguard tags the registered models it creates ``churnguard.managed=true`` and refuses to
touch a model of the same name without that tag.
"""

from __future__ import annotations

import getpass
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST, ErrorCode
from pydantic import AwareDatetime, BaseModel, ConfigDict

from churnguard.config import ChurnguardConfig
from churnguard.data.schema import FEATURE_COLUMNS, TARGET_COLUMN
from churnguard.models.behaviour import (
    CheckResult,
    ChurnModel,
    behaviour_suite,
    gate_metric,
    quality_check,
)
from churnguard.models.estimators import build_model_pipeline
from churnguard.models.history import (
    HistoryEntry,
    PromotionDecision,
    RegistryError,
    append_history,
    earlier_champion,
    read_history,
)
from churnguard.models.tracking import configure_mlflow, load_model

CHALLENGER: Final = "challenger"
CHAMPION: Final = "champion"
#: Registered-model tag marking a model as created (and so owned) by churnguard.
MANAGED_TAG: Final = "churnguard.managed"
METRIC_TAG_PREFIX: Final = "metric."
DECISION_TAG: Final = "gate.decision"


class VersionSummary(BaseModel):
    """One registered version as ``churnguard models list`` shows it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    aliases: tuple[str, ...]
    run_id: str
    created_at: AwareDatetime
    roc_auc: float | None
    gate_decision: str | None


@dataclass(frozen=True)
class _Scores:
    challenger: float
    champion: float | None
    baseline: float | None


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        return "unknown"


def _has_code(exc: MlflowException, code: int) -> bool:
    return bool(exc.error_code == ErrorCode.Name(code))


def _connect(config: ChurnguardConfig) -> tuple[MlflowClient, str]:
    configure_mlflow(config.mlflow)
    return MlflowClient(), config.registry.model_name


def _create_managed(client: MlflowClient, name: str) -> RegisteredModel:
    try:
        return client.create_registered_model(name, tags={MANAGED_TAG: "true"})
    except MlflowException as exc:  # created meanwhile by another process: check that one
        if not _has_code(exc, RESOURCE_ALREADY_EXISTS):
            raise
        return client.get_registered_model(name)


def _managed_model(client: MlflowClient, name: str, *, create: bool) -> RegisteredModel | None:
    """The registered model ``name`` if churnguard owns it; when absent None, or created."""
    try:
        model = client.get_registered_model(name)
    except MlflowException as exc:
        if not _has_code(exc, RESOURCE_DOES_NOT_EXIST):
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


def _aliased(client: MlflowClient, model: RegisteredModel, alias: str) -> ModelVersion | None:
    version = model.aliases.get(alias)
    return None if version is None else client.get_model_version(model.name, str(version))


def _set_tags(client: MlflowClient, name: str, version: int, tags: Mapping[str, str]) -> None:
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, value)


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
    client, name = _connect(config)
    _managed_model(client, name, create=True)
    tags = {"run_id": run_id, "data_sha256": data_sha256}
    tags |= {f"{METRIC_TAG_PREFIX}{key}": repr(float(value)) for key, value in metrics.items()}
    version = int(mlflow.register_model(model_uri, name, tags=tags).version)
    client.set_registered_model_alias(name, CHALLENGER, str(version))
    return version


def _check_split(frame: pd.DataFrame, split: str) -> None:
    missing = [c for c in (*FEATURE_COLUMNS, TARGET_COLUMN) if c not in frame.columns]
    if missing:
        msg = f"the {split} split lacks column(s) {', '.join(missing)}: pass a processed split (`churnguard preprocess` writes them)"
        raise RegistryError(msg)
    if frame[TARGET_COLUMN].nunique() < 2:
        msg = f"the {split} split ({len(frame)} rows) needs churners and non-churners in '{TARGET_COLUMN}' for the gate metric"
        raise RegistryError(msg)


def _score(
    config: ChurnguardConfig,
    model: ChurnModel,
    champion: int | None,
    train: pd.DataFrame,
    test: pd.DataFrame,
) -> _Scores:
    """Gate metrics of the challenger and of the champion, or of a baseline when there is none."""
    metric = config.gate.metric
    if champion is not None:
        incumbent = load_model(f"models:/{config.registry.model_name}/{champion}").model
        return _Scores(gate_metric(model, test, metric), gate_metric(incumbent, test, metric), None)
    _check_split(train, "train")
    baseline = build_model_pipeline(config.features, config.model, estimator="logistic")
    baseline.fit(train.loc[:, list(FEATURE_COLUMNS)], train[TARGET_COLUMN])
    return _Scores(gate_metric(model, test, metric), None, gate_metric(baseline, test, metric))


def _reason(
    version: int, champion: int | None, quality: CheckResult, failed: list[CheckResult]
) -> str:
    first = champion is None
    against = "no champion yet" if first else f"champion version {champion}"
    if failed:
        problems = "; ".join(f"{c.name} failed: {c.detail}" for c in failed)
        stays = "there is still no champion" if first else f"version {champion} stays champion"
        return f"version {version} refused ({against}): {problems}; {stays}"
    return f"version {version} promoted ({against}): {quality.detail}; all behaviour checks passed"


def _decision_tags(decision: str, reason: str, at: datetime, by: str) -> dict[str, str]:
    stamp = at.isoformat(timespec="seconds")
    return {
        DECISION_TAG: decision,
        "gate.reason": reason,
        "gate.decided_at": stamp,
        "gate.decided_by": by,
    }


def _record(client: MlflowClient, config: ChurnguardConfig, decision: PromotionDecision) -> None:
    verdict = "promoted" if decision.promoted else "refused"
    tags = _decision_tags(verdict, decision.reason, decision.decided_at, decision.decided_by)
    tags[f"gate.{decision.metric}"] = repr(decision.challenger_metric)
    _set_tags(client, decision.model_name, decision.challenger_version, tags)
    append_history(config.registry.history_file, HistoryEntry.from_decision(decision))


def promote(
    config: ChurnguardConfig,
    train_frame: pd.DataFrame,
    test_frame: pd.DataFrame,
    *,
    actor: str | None = None,
) -> PromotionDecision:
    """Run the quality gate on the challenger; move the champion alias only if it passes.

    Rules, all required: every behaviour check passes on ``test_frame``; with a champion, the
    challenger's ``gate.metric`` on ``test_frame`` is >= the champion's + ``gate.margin``;
    without one, it is >= ``gate.min_auc`` and >= that of a logistic baseline fitted on
    ``train_frame``. A challenger that already is the champion is refused, unscored, as nothing
    to do. Every decision goes to the history; scored ones are also tagged on the challenger.

    Args:
        config: Tracking, gate and registry settings.
        train_frame: The processed train split (fits the baseline when there is no champion).
        test_frame: The processed test split, with ``Churn``; both models are scored on it.
        actor: Who runs the gate (default: the login name, or ``unknown``).

    Raises:
        RegistryError: no challenger, a foreign model of that name, or an unusable split.
    """
    client, name = _connect(config)
    registered = _managed_model(client, name, create=False)
    challenger = None if registered is None else _aliased(client, registered, CHALLENGER)
    if registered is None or challenger is None:
        msg = f"no challenger: run `churnguard train` first (registered model '{name}' has no '{CHALLENGER}' alias)"
        raise RegistryError(msg)
    version, incumbent = int(challenger.version), registered.aliases.get(CHAMPION)
    champion = None if incumbent is None else int(incumbent)
    facts: dict[str, Any] = {
        "model_name": name,
        "metric": config.gate.metric,
        "challenger_version": version,
        "champion_version": champion,
        "run_id": challenger.run_id or "",
        "data_sha256": challenger.tags.get("data_sha256", "unknown"),
        "decided_by": actor or _default_actor(),
        "decided_at": datetime.now(UTC),
    }
    if champion == version:
        reason = f"version {version} is already the champion: nothing to promote (train a new challenger first)"
        decision = PromotionDecision(promoted=False, reason=reason, **facts)
        append_history(config.registry.history_file, HistoryEntry.from_decision(decision))
        return decision
    _check_split(test_frame, "test")
    candidate = load_model(f"models:/{name}/{version}").model
    checks = behaviour_suite(candidate, test_frame, config.gate)
    scores = _score(config, candidate, champion, train_frame, test_frame)
    quality = quality_check(
        config.gate.metric,
        scores.challenger,
        config.gate,
        champion=scores.champion,
        baseline=scores.baseline,
    )
    failed = [check for check in (*checks, quality) if not check.passed]
    decision = PromotionDecision(
        promoted=not failed,
        reason=_reason(version, champion, quality, failed),
        challenger_metric=scores.challenger,
        champion_metric=scores.champion,
        baseline_metric=scores.baseline,
        behaviour=tuple(checks),
        **facts,
    )
    if decision.promoted:
        client.set_registered_model_alias(name, CHAMPION, str(version))
    _record(client, config, decision)
    return decision


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
    client, name = _connect(config)
    registered = _managed_model(client, name, create=False)
    current = None if registered is None else registered.aliases.get(CHAMPION)
    if registered is None or current is None:
        msg = f"no champion to roll back: registered model '{name}' has no '{CHAMPION}' alias"
        raise RegistryError(msg)
    demoted = int(current)
    target = earlier_champion(config.registry.history_file, name, demoted)
    try:
        restored = client.get_model_version(name, str(target))
    except MlflowException as exc:
        if not _has_code(exc, RESOURCE_DOES_NOT_EXIST):
            raise
        msg = f"cannot roll back to version {target} of '{name}' (the champion before version {demoted}): it was deleted from the registry"
        raise RegistryError(msg) from exc
    at, by = datetime.now(UTC), actor or _default_actor()
    reason = (
        f"rolled back from version {demoted} to version {restored.version}, the champion before it"
    )
    client.set_registered_model_alias(name, CHAMPION, str(restored.version))
    if str(registered.aliases.get(CHALLENGER)) == str(demoted):
        client.delete_registered_model_alias(name, CHALLENGER)
    _set_tags(client, name, demoted, _decision_tags("rolled_back", reason, at, by))
    _set_tags(
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
    client, name = _connect(config)
    registered = _managed_model(client, name, create=False)
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
