"""Promotion: run the gate on a registered challenger and move the ``champion`` alias if it passes.

:func:`promote` loads the challenger (which checks its file, format and features), loads the
champion and has the caller score it on the challenger's test window, lets
:func:`~fraudstream.training.gate.decide` judge, moves the alias only on a pass, and records every
decision, refusals included, as ``gate.*`` tags on the challenger and in the audit history.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from mlflow import MlflowClient

from fraudstream.training._registry_client import (
    CHAMPION,
    connect,
    decision_tags,
    default_actor,
    managed_model,
    model_version,
    set_tags,
)
from fraudstream.training.gate import GateMetrics, PromotionDecision, decide
from fraudstream.training.history import HistoryEntry, RegistryError, append_history
from fraudstream.training.model_loading import LoadedModel, load_model
from fraudstream.training.model_metadata import FeatureDefinitionMismatchError
from fraudstream.training.registry_config import RegistrySections

#: Scores a loaded model on the challenger's test window (the caller owns the data).
IncumbentEvaluator = Callable[[LoadedModel], GateMetrics]


def _challenger_metrics(loaded: LoadedModel) -> GateMetrics:
    return GateMetrics(
        average_precision=loaded.metadata.average_precision,
        card_precision_top_k=loaded.metadata.card_precision_top_k,
        test_window=loaded.metadata.test_window,
    )


def _incumbent_metrics(
    name: str, champion: int | None, evaluate_incumbent: IncumbentEvaluator
) -> tuple[GateMetrics | None, str]:
    """The champion's metrics from the caller, or None (and why) when there is none to score."""
    if champion is None:
        return None, ""
    try:
        incumbent = load_model(f"models:/{name}/{champion}")
    except FeatureDefinitionMismatchError as exc:
        # The champion cannot score today's feature vectors, so it cannot serve either: the
        # challenger has to beat the baseline, as a first model does.
        return None, f"Champion version {champion} was not scored: {exc}"
    return evaluate_incumbent(incumbent), ""


def _reason(version: int, champion: int | None, note: str, decision: PromotionDecision) -> str:
    if decision.promoted:
        replaced = "" if champion is None else f", replacing champion version {champion}"
        head = f"version {version} promoted{replaced}"
    else:
        stays = (
            "there is still no champion"
            if champion is None
            else f"version {champion} stays champion"
        )
        head = f"version {version} refused; {stays}"
    reference = "the champion" if decision.compared_with == "champion" else "the logistic baseline"
    text = f"{head}. Compared with {reference} {decision.reason}"
    return f"{text}. {note}" if note else text


def _record(
    client: MlflowClient,
    sections: RegistrySections,
    decision: PromotionDecision,
    run_id: str,
    by: str,
) -> None:
    at = datetime.now(UTC)
    name = sections.registry.model_name
    version = int(decision.challenger_version or 0)
    verdict = "promoted" if decision.promoted else "refused"
    set_tags(client, name, version, decision_tags(verdict, decision.reason, at, by))
    entry = HistoryEntry.from_decision(decision, model_name=name, run_id=run_id, at=at, by=by)
    append_history(sections.registry.history_file, entry)


def promote(
    sections: RegistrySections,
    challenger_version: int,
    evaluate_incumbent: IncumbentEvaluator,
    baseline: GateMetrics,
    *,
    actor: str | None = None,
) -> PromotionDecision:
    """Make ``challenger_version`` champion if it passes the gate; record the decision either way.

    The challenger's metrics are those it was registered with. With a champion, the champion is
    loaded and ``evaluate_incumbent`` scores it on the challenger's test window; the challenger
    must beat those numbers by the margins of ``sections.gate``. Without a champion (or with one
    trained on features this fraudstream no longer computes), it must beat ``baseline``.

    Args:
        sections: The ``mlflow``, ``registry`` and ``gate`` configuration sections.
        challenger_version: The registered version to judge.
        evaluate_incumbent: Scores a loaded model on the challenger's test window.
        baseline: The logistic baseline's metrics on the challenger's test window.
        actor: Who runs the gate (default: the login name, or ``unknown``).

    Returns:
        The decision, with the versions and the reason as recorded.

    Raises:
        RegistryError: no such version, it already is the champion, or a foreign model of
            that name.
        ModelLoadError: the challenger (or the champion) cannot be loaded safely.
    """
    client, name = connect(sections)
    registered = managed_model(client, name, create=False)
    found = None if registered is None else model_version(client, name, challenger_version)
    if registered is None or found is None:
        msg = f"version {challenger_version} of '{name}' is not in the registry: register the trained model first (register_challenger)"
        raise RegistryError(msg)
    current = registered.aliases.get(CHAMPION)
    champion = None if current is None else int(current)
    if champion == challenger_version:
        msg = f"version {challenger_version} of '{name}' already is the champion: nothing to promote (train and register a new challenger)"
        raise RegistryError(msg)
    challenger = load_model(f"models:/{name}/{challenger_version}")
    incumbent, note = _incumbent_metrics(name, champion, evaluate_incumbent)
    verdict = decide(_challenger_metrics(challenger), incumbent, baseline, sections.gate)
    decision = verdict.model_copy(
        update={
            "challenger_version": challenger_version,
            "champion_version": champion,
            "reason": _reason(challenger_version, champion, note, verdict),
        }
    )
    if decision.promoted:
        client.set_registered_model_alias(name, CHAMPION, str(challenger_version))
    _record(client, sections, decision, found.run_id or "", actor or default_actor())
    return decision


__all__ = ["IncumbentEvaluator", "promote"]
