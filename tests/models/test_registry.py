"""Tests of the model registry: registration, the quality gate, rollback and the audit history.

Every test runs against its own copy of a real MLflow sqlite store holding three logged candidate
models (``registry_store``): "good" (ROC-AUC 0.894, above the logistic baseline's 0.892), "better"
(0.896) and "worse" (0.751).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import pytest
from mlflow import MlflowClient

from churnguard.config import ChurnguardConfig
from churnguard.data.preprocess import SplitFrames
from churnguard.data.schema import TARGET_COLUMN
from churnguard.models import gate
from churnguard.models.behaviour import CheckResult
from churnguard.models.history import (
    HistoryAction,
    HistoryEntry,
    append_history,
    champion_lineage,
)
from churnguard.models.registry import (
    PromotionDecision,
    RegistryError,
    list_versions,
    promote,
    read_history,
    register_challenger,
    rollback,
)
from churnguard.models.tracking import configure_mlflow

pytestmark = pytest.mark.integration


class CandidateStore(Protocol):
    """The ``registry_store`` fixture: ``(model_uri, run_id)`` of each logged candidate."""

    @property
    def models(self) -> Mapping[str, tuple[str, str]]: ...


DATA_SHA = "d" * 64


def _register(
    config: ChurnguardConfig,
    store: CandidateStore,
    candidate: str,
    metrics: Mapping[str, float] | None = None,
) -> int:
    model_uri, run_id = store.models[candidate]
    return register_challenger(model_uri, run_id, metrics or {"roc_auc": 0.9}, DATA_SHA, config)


def _promote(config: ChurnguardConfig, splits: SplitFrames) -> PromotionDecision:
    return promote(config, splits.train, splits.test, actor="tester")


def _with_gate(config: ChurnguardConfig, **gate: float) -> ChurnguardConfig:
    return config.model_copy(update={"gate": config.gate.model_copy(update=gate)})


def _aliases(config: ChurnguardConfig) -> dict[str, int]:
    model = MlflowClient().get_registered_model(config.registry.model_name)
    return {alias: int(version) for alias, version in model.aliases.items()}


def _tags(config: ChurnguardConfig, version: int) -> dict[str, str]:
    return dict(MlflowClient().get_model_version(config.registry.model_name, str(version)).tags)


def _history_file(config: ChurnguardConfig) -> Path:
    return config.registry.history_file


def test_registering_tags_the_version_and_makes_it_the_challenger(
    registry_config: ChurnguardConfig,
    registry_splits: SplitFrames,
    registry_store: CandidateStore,
) -> None:
    model_uri, run_id = registry_store.models["good"]

    version = register_challenger(
        model_uri, run_id, {"roc_auc": 0.81, "pr_auc": 0.6}, DATA_SHA, registry_config
    )

    assert version == 1
    assert _aliases(registry_config) == {"challenger": 1}
    tags = _tags(registry_config, version)
    assert tags["run_id"] == run_id
    assert tags["data_sha256"] == DATA_SHA
    assert float(tags["metric.roc_auc"]) == 0.81
    assert float(tags["metric.pr_auc"]) == 0.6
    managed = MlflowClient().get_registered_model(registry_config.registry.model_name)
    assert managed.tags["churnguard.managed"] == "true"


def test_first_model_is_promoted_when_above_min_auc_and_the_logistic_baseline(
    registry_config: ChurnguardConfig,
    registry_splits: SplitFrames,
    registry_store: CandidateStore,
) -> None:
    version = _register(registry_config, registry_store, "good")

    decision = _promote(registry_config, registry_splits)

    assert decision.promoted, decision.reason
    assert "promoted (no champion yet)" in decision.reason
    assert decision.champion_version is None
    assert PromotionDecision.model_validate_json(decision.model_dump_json()) == decision
    assert decision.challenger_metric is not None
    assert decision.baseline_metric is not None
    assert decision.challenger_metric >= decision.baseline_metric
    assert decision.challenger_metric >= registry_config.gate.min_auc
    assert f"{decision.baseline_metric:.4f}" in decision.reason
    assert _aliases(registry_config)["champion"] == version
    assert _tags(registry_config, version)["gate.decision"] == "promoted"
    [entry] = read_history(_history_file(registry_config))
    assert (entry.action, entry.version, entry.previous_champion) == ("promote", version, None)
    assert set(entry.metrics) == {"challenger.roc_auc", "baseline.roc_auc"}
    assert entry.by == "tester"
    assert entry.data_sha256 == DATA_SHA
    assert [check.name for check in entry.behaviour] == [c.name for c in decision.behaviour]


def test_first_model_is_refused_when_below_min_auc(
    registry_config: ChurnguardConfig,
    registry_splits: SplitFrames,
    registry_store: CandidateStore,
) -> None:
    config = _with_gate(registry_config, min_auc=0.99)
    version = _register(config, registry_store, "good")

    decision = _promote(config, registry_splits)

    assert not decision.promoted
    assert "gate.min_auc 0.9900" in decision.reason
    assert "there is still no champion" in decision.reason
    assert "champion" not in _aliases(config)
    assert _tags(config, version)["gate.decision"] == "refused"
    [entry] = read_history(_history_file(config))
    assert entry.action == "refuse"
    assert entry.reason == decision.reason


def test_worse_challenger_is_refused_and_the_champion_stays(
    registry_config: ChurnguardConfig,
    registry_splits: SplitFrames,
    registry_store: CandidateStore,
) -> None:
    champion = _register(registry_config, registry_store, "good")
    _promote(registry_config, registry_splits)
    challenger = _register(registry_config, registry_store, "worse")

    decision = _promote(registry_config, registry_splits)

    assert not decision.promoted
    assert decision.challenger_metric is not None
    assert decision.champion_metric is not None
    assert decision.challenger_metric < decision.champion_metric - 0.05
    assert f"version {challenger} refused" in decision.reason
    assert f"version {champion} stays champion" in decision.reason
    assert f"{decision.challenger_metric:.4f}" in decision.reason
    assert f"{decision.champion_metric:.4f}" in decision.reason
    assert _aliases(registry_config) == {"champion": champion, "challenger": challenger}
    assert _tags(registry_config, challenger)["gate.decision"] == "refused"
    entry = read_history(_history_file(registry_config))[-1]
    assert (entry.action, entry.version, entry.previous_champion) == (
        "refuse",
        challenger,
        champion,
    )
    assert entry.metrics == {
        "challenger.roc_auc": decision.challenger_metric,
        "champion.roc_auc": decision.champion_metric,
    }


def test_better_challenger_is_promoted_with_zero_margin_and_recorded(
    registry_config: ChurnguardConfig,
    registry_splits: SplitFrames,
    registry_store: CandidateStore,
) -> None:
    config = _with_gate(registry_config, margin=0.0)
    old = _register(config, registry_store, "good")
    _promote(config, registry_splits)
    new = _register(config, registry_store, "better")

    decision = _promote(config, registry_splits)

    assert decision.promoted, decision.reason
    assert decision.challenger_metric is not None
    assert decision.champion_metric is not None
    assert decision.challenger_metric > decision.champion_metric
    assert (decision.challenger_version, decision.champion_version) == (new, old)
    assert _aliases(config)["champion"] == new
    tags = _tags(config, new)
    assert tags["gate.decision"] == "promoted"
    assert tags["gate.reason"] == decision.reason
    assert datetime.fromisoformat(tags["gate.decided_at"]).tzinfo is not None
    assert float(tags["gate.roc_auc"]) == decision.challenger_metric
    history = read_history(_history_file(config))
    assert [(e.action, e.version, e.previous_champion) for e in history] == [
        ("promote", old, None),
        ("promote", new, old),
    ]


def test_behaviour_failure_refuses_an_otherwise_good_challenger(
    registry_config: ChurnguardConfig,
    registry_splits: SplitFrames,
    registry_store: CandidateStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failing = CheckResult(
        name="invariance_gender",
        passed=False,
        value=0.3,
        limit=0.02,
        detail="swapping gender moves the churn probability by up to 0.3000",
    )
    monkeypatch.setattr(gate, "behaviour_suite", lambda *_: [failing])
    _register(registry_config, registry_store, "good")

    decision = _promote(registry_config, registry_splits)

    assert not decision.promoted
    assert "invariance_gender failed" in decision.reason
    assert "0.3000" in decision.reason
    assert decision.behaviour == (failing,)
    assert "champion" not in _aliases(registry_config)
    assert read_history(_history_file(registry_config))[-1].behaviour == (failing,)


def test_promoting_the_champion_again_is_refused_as_nothing_to_do(
    registry_config: ChurnguardConfig,
    registry_splits: SplitFrames,
    registry_store: CandidateStore,
) -> None:
    version = _register(registry_config, registry_store, "good")
    _promote(registry_config, registry_splits)

    decision = _promote(registry_config, registry_splits)

    assert not decision.promoted
    assert f"version {version} is already the champion" in decision.reason
    assert decision.challenger_metric is None
    assert _aliases(registry_config)["champion"] == version
    assert _tags(registry_config, version)["gate.decision"] == "promoted"
    assert [e.action for e in read_history(_history_file(registry_config))] == [
        "promote",
        "refuse",
    ]


def test_promote_without_a_challenger_is_a_registry_error(
    registry_config: ChurnguardConfig, registry_splits: SplitFrames
) -> None:
    with pytest.raises(RegistryError, match=r"no challenger: run `churnguard train` first"):
        _promote(registry_config, registry_splits)

    assert not _history_file(registry_config).exists()


def test_promote_rejects_a_test_split_without_churn(
    registry_config: ChurnguardConfig,
    registry_splits: SplitFrames,
    registry_store: CandidateStore,
) -> None:
    _register(registry_config, registry_store, "good")

    with pytest.raises(RegistryError, match="test split lacks column"):
        promote(
            registry_config, registry_splits.train, registry_splits.test.drop(columns=TARGET_COLUMN)
        )


def test_a_foreign_model_of_the_same_name_is_never_touched(
    registry_config: ChurnguardConfig,
    registry_splits: SplitFrames,
    registry_store: CandidateStore,
) -> None:
    name = registry_config.registry.model_name
    configure_mlflow(registry_config.mlflow)
    MlflowClient().create_registered_model(name, tags={"team": "fraud"})
    model_uri, run_id = registry_store.models["good"]

    with pytest.raises(RegistryError, match=r"pick another registry\.model_name"):
        register_challenger(model_uri, run_id, {"roc_auc": 0.9}, DATA_SHA, registry_config)
    with pytest.raises(RegistryError, match=f"named '{name}'"):
        _promote(registry_config, registry_splits)

    assert RegistryError.exit_code == 9
    assert list(MlflowClient().search_model_versions(f"name = '{name}'")) == []


def test_rollback_puts_the_previous_champion_back_and_records_it(
    registry_config: ChurnguardConfig,
    registry_splits: SplitFrames,
    registry_store: CandidateStore,
) -> None:
    config = _with_gate(registry_config, margin=0.0)
    first = _register(config, registry_store, "good", {"roc_auc": 0.894})
    _promote(config, registry_splits)
    second = _register(config, registry_store, "better")
    _promote(config, registry_splits)

    entry = rollback(config, actor="on-call")

    assert (entry.action, entry.version, entry.previous_champion) == ("rollback", first, second)
    assert entry.by == "on-call"
    assert entry.metrics == {"restored.roc_auc": 0.894}
    assert f"from version {second} to version {first}" in entry.reason
    # the demoted version also loses the challenger alias, so `promote` cannot bring it back
    assert _aliases(config) == {"champion": first}
    assert _tags(config, second)["gate.decision"] == "rolled_back"
    assert "gate.restored_at" in _tags(config, first)
    assert read_history(_history_file(config))[-1] == entry


def test_rolling_back_repeatedly_walks_back_through_earlier_champions(
    registry_config: ChurnguardConfig,
    registry_splits: SplitFrames,
    registry_store: CandidateStore,
) -> None:
    config = _with_gate(registry_config, margin=0.0)
    versions = []
    for _ in range(3):  # the same model three times: equal metrics pass a zero margin
        versions.append(_register(config, registry_store, "good"))
        assert _promote(config, registry_splits).promoted

    restored = [rollback(config).version, rollback(config).version]

    assert restored == [versions[1], versions[0]]
    assert _aliases(config)["champion"] == versions[0]
    with pytest.raises(RegistryError, match=f"version {versions[0]} .* first champion"):
        rollback(config)


def test_rollback_without_an_earlier_champion_is_a_registry_error(
    registry_config: ChurnguardConfig,
    registry_splits: SplitFrames,
    registry_store: CandidateStore,
) -> None:
    with pytest.raises(RegistryError, match="no champion to roll back"):
        rollback(registry_config)
    version = _register(registry_config, registry_store, "good")
    _promote(registry_config, registry_splits)

    with pytest.raises(RegistryError, match="no earlier champion to roll back to"):
        rollback(registry_config)

    assert _aliases(registry_config)["champion"] == version


def test_rollback_refuses_when_the_champion_alias_was_moved_outside_churnguard(
    registry_config: ChurnguardConfig,
    registry_splits: SplitFrames,
    registry_store: CandidateStore,
) -> None:
    first = _register(registry_config, registry_store, "good")
    _promote(registry_config, registry_splits)
    second = _register(registry_config, registry_store, "good")
    MlflowClient().set_registered_model_alias(
        registry_config.registry.model_name, "champion", str(second)
    )

    with pytest.raises(RegistryError, match=f"says version {first} .* points at version {second}"):
        rollback(registry_config)


def test_rollback_to_a_deleted_version_is_a_registry_error(
    registry_config: ChurnguardConfig, registry_store: CandidateStore
) -> None:
    name = registry_config.registry.model_name
    first = _register(registry_config, registry_store, "good")
    second = _register(registry_config, registry_store, "better")
    # the state two promotions leave behind, written directly: the gate is tested elsewhere
    MlflowClient().set_registered_model_alias(name, "champion", str(second))
    for version in (first, second):
        append_history(_history_file(registry_config), _entry("promote", version))
    MlflowClient().delete_model_version(name, str(first))

    with pytest.raises(RegistryError, match=f"version {first} .* was deleted"):
        rollback(registry_config)

    assert _aliases(registry_config)["champion"] == second


def test_list_versions_shows_aliases_metrics_and_gate_decisions(
    registry_config: ChurnguardConfig,
    registry_splits: SplitFrames,
    registry_store: CandidateStore,
) -> None:
    assert list_versions(registry_config) == []
    good = _register(registry_config, registry_store, "good", {"roc_auc": 0.89})
    _promote(registry_config, registry_splits)
    worse = _register(registry_config, registry_store, "worse", {"roc_auc": 0.75})
    _promote(registry_config, registry_splits)

    listed = list_versions(registry_config)

    assert [(v.version, v.aliases, v.roc_auc, v.gate_decision) for v in listed] == [
        (worse, ("challenger",), 0.75, "refused"),
        (good, ("champion",), 0.89, "promoted"),
    ]
    assert all(len(v.run_id) == 32 for v in listed)
    assert listed[0].created_at >= listed[1].created_at


def test_list_versions_handles_a_model_name_with_an_apostrophe(
    registry_config: ChurnguardConfig, registry_store: CandidateStore
) -> None:
    registry_section = registry_config.registry.model_copy(update={"model_name": "Bob's churn"})
    config = registry_config.model_copy(update={"registry": registry_section})
    version = _register(config, registry_store, "good")

    assert [v.version for v in list_versions(config)] == [version]


def test_history_file_is_valid_json_after_every_action_and_leaves_no_temp_files(
    registry_config: ChurnguardConfig,
    registry_splits: SplitFrames,
    registry_store: CandidateStore,
) -> None:
    config = _with_gate(registry_config, margin=0.0)
    path = _history_file(config)
    actions = []
    for candidate in ("good", "better", "worse"):
        _register(config, registry_store, candidate)
        actions.append(_promote(config, registry_splits))
        assert len(json.loads(path.read_text(encoding="utf-8"))) == len(actions)
    rollback(config)

    recorded = json.loads(path.read_text(encoding="utf-8"))
    assert [item["action"] for item in recorded] == ["promote", "promote", "refuse", "rollback"]
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def _entry(action: HistoryAction, version: int, model_name: str = "churnguard") -> HistoryEntry:
    return HistoryEntry(
        action=action,
        model_name=model_name,
        version=version,
        previous_champion=None,
        run_id="r",
        metrics={},
        data_sha256=DATA_SHA,
        at=datetime(2026, 1, 1, tzinfo=UTC),
        by="tester",
        reason="test",
    )


@pytest.mark.unit
def test_champion_lineage_replays_promotions_and_rollbacks_of_one_model() -> None:
    entries = [
        _entry("promote", 1),
        _entry("refuse", 2),
        _entry("promote", 3),
        _entry("promote", 9, model_name="other"),
        _entry("promote", 4),
        _entry("rollback", 3),
        _entry("promote", 5),
    ]

    assert champion_lineage(entries, "churnguard") == [1, 3, 5]
    assert champion_lineage([*entries, _entry("rollback", 1)], "churnguard") == [1]
    assert champion_lineage(entries, "other") == [9]


@pytest.mark.unit
def test_a_missing_history_file_is_an_empty_history(tmp_path: Path) -> None:
    assert read_history(tmp_path / "absent.json") == []


@pytest.mark.unit
def test_a_corrupt_history_file_is_a_registry_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "model_registry.json"
    path.write_text('[{"action": "promote"}', encoding="utf-8")

    with pytest.raises(RegistryError, match=f"{path.name} is not valid .*restore it"):
        read_history(path)


@pytest.mark.unit
def test_a_failed_history_write_leaves_the_previous_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "models" / "model_registry.json"
    append_history(path, _entry("promote", 1))
    before = path.read_bytes()

    def crash(self: Path, target: Path) -> Path:
        raise OSError("disk full")

    monkeypatch.setattr(Path, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        append_history(path, _entry("promote", 2))

    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]
