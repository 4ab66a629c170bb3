"""The quality gate: promote the challenger to champion only when it is good enough.

:func:`promote` scores the ``challenger`` version and the ``champion`` (the version being served)
on the same test split and moves the ``champion`` alias only when the challenger passes every
rule. Each decision is recorded as ``gate.*`` tags on the challenger version and in the audit
history file (:mod:`churnguard.models.history`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from mlflow import MlflowClient

from churnguard.config import ChurnguardConfig
from churnguard.data.schema import FEATURE_COLUMNS, TARGET_COLUMN
from churnguard.models._registry_client import (
    CHALLENGER,
    CHAMPION,
    aliased,
    connect,
    decision_tags,
    default_actor,
    managed_model,
    set_tags,
)
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
)
from churnguard.models.tracking import load_model


@dataclass(frozen=True)
class _Scores:
    challenger: float
    champion: float | None
    baseline: float | None


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


def _record(client: MlflowClient, config: ChurnguardConfig, decision: PromotionDecision) -> None:
    verdict = "promoted" if decision.promoted else "refused"
    tags = decision_tags(verdict, decision.reason, decision.decided_at, decision.decided_by)
    tags[f"gate.{decision.metric}"] = repr(decision.challenger_metric)
    set_tags(client, decision.model_name, decision.challenger_version, tags)
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
    client, name = connect(config)
    registered = managed_model(client, name, create=False)
    challenger = None if registered is None else aliased(client, registered, CHALLENGER)
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
        "decided_by": actor or default_actor(),
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


__all__ = ["promote"]
