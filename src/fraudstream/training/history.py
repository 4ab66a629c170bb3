"""The registry's audit trail: every gate decision and rollback, who did it, when and why.

The history file (``registry.history_file``, ``models/model_registry.json`` by default) is a JSON
list of :class:`HistoryEntry`, oldest first, rewritten atomically on every append so a crash
never leaves half a file. Refused promotions are recorded too. A non-finite number (a broken
model's NaN) is written as ``NaN``, as Python's ``json`` does, so that it reads back. The file is
also the memory of who was champion before whom, which :func:`champion_lineage` replays for
rollbacks.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, TypeAdapter, ValidationError

from fraudstream.errors import FraudstreamError, first_problem
from fraudstream.io import write_text_atomic
from fraudstream.training.gate import MetricCheck, PromotionDecision, ReferenceRole

HistoryAction = Literal["promote", "refuse", "rollback"]


class RegistryError(FraudstreamError):
    """The model registry cannot do what was asked (no champion, no earlier one, foreign model)."""

    exit_code = 8


class HistoryEntry(BaseModel):
    """One recorded registry action.

    Attributes:
        action: ``promote`` or ``refuse`` (a gate decision), or ``rollback``.
        model_name: The registered model the action applies to.
        version: The challenger judged by the gate, or the version a rollback restored.
        previous_champion: The champion before the action (for a rollback: the version demoted).
        run_id: The MLflow run that trained ``version``.
        test_window: The window the gate compared the models on (None for a rollback).
        compared_with: ``champion`` or ``baseline`` for a gate decision (None for a rollback).
        metrics: Metrics as ``<role>.<metric>``: ``challenger`` and ``champion`` or ``baseline``
            for a gate decision, ``restored`` (its test metrics) for a rollback.
        checks: The gate's per-metric comparisons (empty for a rollback).
        at: When it happened (UTC).
        by: Who did it.
        reason: Why, with version numbers and metric values.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants")

    action: HistoryAction
    model_name: str
    version: int
    previous_champion: int | None
    run_id: str
    test_window: str | None = None
    compared_with: ReferenceRole | None = None
    metrics: dict[str, float]
    checks: tuple[MetricCheck, ...] = ()
    at: AwareDatetime
    by: str
    reason: str

    @classmethod
    def from_decision(
        cls,
        decision: PromotionDecision,
        *,
        model_name: str,
        run_id: str,
        at: AwareDatetime,
        by: str,
    ) -> Self:
        """The entry recording a gate decision taken by ``promote``."""
        if decision.challenger_version is None:
            msg = "a recorded decision needs the challenger's version"
            raise ValueError(msg)
        roles = {"challenger": decision.challenger, decision.compared_with: decision.reference}
        return cls(
            action="promote" if decision.promoted else "refuse",
            model_name=model_name,
            version=decision.challenger_version,
            previous_champion=decision.champion_version,
            run_id=run_id,
            test_window=decision.challenger.test_window,
            compared_with=decision.compared_with,
            metrics={
                f"{role}.{metric}": value
                for role, metrics in roles.items()
                for metric, value in metrics.model_dump(exclude={"test_window"}).items()
            },
            checks=decision.checks,
            at=at,
            by=by,
            reason=decision.reason,
        )


_ENTRIES = TypeAdapter(list[HistoryEntry])


def read_history(path: Path) -> list[HistoryEntry]:
    """Read the audit history, oldest entry first; a missing file is an empty history.

    Raises:
        RegistryError: the file is not a valid history (the message names the first problem).
    """
    if not path.is_file():
        return []
    try:
        return _ENTRIES.validate_json(path.read_bytes())
    except ValidationError as exc:
        msg = (
            f"the model registry history {path} is not valid ({first_problem(exc)}): restore it "
            "from a backup or version control; the registry aliases in MLflow are unaffected"
        )
        raise RegistryError(msg) from exc


def append_history(path: Path, entry: HistoryEntry) -> list[HistoryEntry]:
    """Append ``entry`` to the history file (rewritten atomically); return the whole history.

    Raises:
        RegistryError: the existing file is not a valid history.
    """
    entries = [*read_history(path), entry]
    write_text_atomic(path, _ENTRIES.dump_json(entries, indent=2).decode() + "\n")
    return entries


def champion_lineage(entries: Iterable[HistoryEntry], model_name: str) -> list[int]:
    """Replay the history into the stack of champions of ``model_name``, the current one last.

    A ``promote`` pushes its version. A ``rollback`` pops champions until the restored version
    is on top (or starts the stack with it when the history lost track of it). So rolling back
    twice walks two champions back, and a promotion after a rollback stacks on the restored one.
    """
    stack: list[int] = []
    for entry in entries:
        if entry.model_name != model_name:
            continue
        if entry.action == "promote":
            stack.append(entry.version)
        elif entry.action == "rollback":
            while stack and stack[-1] != entry.version:
                stack.pop()
            if not stack:
                stack.append(entry.version)
    return stack


def earlier_champion(path: Path, model_name: str, current: int) -> int:
    """The champion that preceded ``current`` according to the history file at ``path``.

    Raises:
        RegistryError: the history disagrees on who is champion, or records none before it.
    """
    lineage = champion_lineage(read_history(path), model_name)
    if lineage and lineage[-1] != current:
        msg = (
            f"{path} says version {lineage[-1]} of '{model_name}' is champion but the registry's "
            f"champion alias points at version {current} (moved outside fraudstream?): set the "
            f"alias back to version {lineage[-1]} in MLflow, then roll back"
        )
        raise RegistryError(msg)
    if len(lineage) < 2:
        msg = (
            f"no earlier champion to roll back to: version {current} of '{model_name}' is the "
            f"first champion recorded in {path}; promote a better model instead"
        )
        raise RegistryError(msg)
    return lineage[-2]


__all__ = [
    "HistoryAction",
    "HistoryEntry",
    "RegistryError",
    "append_history",
    "champion_lineage",
    "earlier_champion",
    "read_history",
]
