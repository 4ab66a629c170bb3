"""The registry's audit trail: the gate's decisions and the history file that lists them.

The history file (``registry.history_file``, ``models/model_registry.json`` by default) is a JSON
list of :class:`HistoryEntry`, oldest first, rewritten atomically on every append so a crash
never leaves half a file. A non-finite number (a broken model's NaN) is written as ``NaN``, as
Python's ``json`` does, so that it reads back instead of turning into ``null``. It is also the memory of who was champion before whom, which
:func:`champion_lineage` replays for rollbacks.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, TypeAdapter, ValidationError

from churnguard.errors import ChurnguardError
from churnguard.io import write_text_atomic
from churnguard.models.behaviour import CheckResult

HistoryAction = Literal["promote", "refuse", "rollback", "experiment_stop"]


class RegistryError(ChurnguardError):
    """The model registry cannot do what was asked (no challenger, no earlier champion, ...)."""

    exit_code = 9


class PromotionDecision(BaseModel):
    """What the quality gate decided about a challenger, and on which evidence.

    Attributes:
        promoted: Whether the challenger became champion.
        reason: The rules that decided, with version numbers and metric values.
        model_name: The registered model.
        metric: The gate metric (``roc_auc`` or ``pr_auc``), measured on the test split.
        challenger_version: The version judged.
        champion_version: The champion when the gate ran (None: there was none).
        challenger_metric: The challenger's metric (None when it was not scored).
        champion_metric: The champion's metric on the same split (None without champion).
        baseline_metric: The logistic baseline's metric (computed only without champion).
        behaviour: The challenger's behaviour checks.
        run_id: The run that trained the challenger.
        data_sha256: The hash of the challenger's training data.
        decided_at: When (UTC).
        decided_by: Who ran the gate.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants")

    promoted: bool
    reason: str
    model_name: str
    metric: str
    challenger_version: int
    champion_version: int | None
    challenger_metric: float | None = None
    champion_metric: float | None = None
    baseline_metric: float | None = None
    behaviour: tuple[CheckResult, ...] = ()
    run_id: str
    data_sha256: str
    decided_at: AwareDatetime
    decided_by: str


class HistoryEntry(BaseModel):
    """One recorded registry action.

    Attributes:
        action: ``promote`` or ``refuse`` (a gate decision), ``rollback``, or ``experiment_stop``
            (an experiment ended without promotion).
        model_name: The registered model the action applies to.
        version: The challenger judged by the gate, or the version a rollback restored.
        previous_champion: The champion before the action (for a rollback: the version demoted).
        run_id: The MLflow run that trained ``version``.
        metrics: Gate metrics as ``<role>.<metric>`` (role ``challenger``, ``champion`` or
            ``baseline``); for a rollback the restored version's training metrics as
            ``restored.<metric>``.
        data_sha256: The hash of the data ``version`` was trained on.
        at: When it happened (UTC).
        by: Who did it.
        reason: Why, with version numbers and metric values.
        behaviour: The behaviour checks of a gate decision (empty for a rollback).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants")

    action: HistoryAction
    model_name: str
    version: int
    previous_champion: int | None
    run_id: str
    metrics: dict[str, float]
    data_sha256: str
    at: AwareDatetime
    by: str
    reason: str
    behaviour: tuple[CheckResult, ...] = ()

    @classmethod
    def from_decision(cls, decision: PromotionDecision) -> Self:
        """The history entry recording a gate decision."""
        roles = {
            "challenger": decision.challenger_metric,
            "champion": decision.champion_metric,
            "baseline": decision.baseline_metric,
        }
        return cls(
            action="promote" if decision.promoted else "refuse",
            model_name=decision.model_name,
            version=decision.challenger_version,
            previous_champion=decision.champion_version,
            run_id=decision.run_id,
            metrics={f"{r}.{decision.metric}": v for r, v in roles.items() if v is not None},
            data_sha256=decision.data_sha256,
            at=decision.decided_at,
            by=decision.decided_by,
            reason=decision.reason,
            behaviour=decision.behaviour,
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
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "top level"
        msg = (
            f"the model registry history {path} is not valid ({exc.error_count()} problem(s), "
            f"first at {where}: {first['msg']}): restore it from a backup or version control; "
            "the registry aliases in MLflow are unaffected"
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
            f"champion alias points at version {current} (moved outside churnguard?): set the "
            f"alias back to version {lineage[-1]} in MLflow, then roll back"
        )
        raise RegistryError(msg)
    if len(lineage) < 2:
        msg = f"no earlier champion to roll back to: version {current} of '{model_name}' is the first champion recorded in {path}"
        raise RegistryError(msg)
    return lineage[-2]


__all__ = [
    "HistoryAction",
    "HistoryEntry",
    "PromotionDecision",
    "RegistryError",
    "append_history",
    "champion_lineage",
    "earlier_champion",
    "read_history",
]
