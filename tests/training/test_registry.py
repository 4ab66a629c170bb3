"""Tests of the model registry: registration, the gate, promotion, rollback, the audit history.

The gate's decision is tested as the pure function it is. Everything else runs against a private
copy of a real MLflow sqlite store holding three logged candidates (``registry_fixtures``):
"good" (logistic), "better" (LightGBM, far better on both gate metrics) and "worse" (no skill).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from mlflow import MlflowClient
from pydantic import ValidationError
from registry_fixtures import (
    TEST_WINDOW,
    RegistryStore,
    fit_candidate,
    fraud_probability,
    gate_metrics,
    incumbent_evaluator,
    log_candidate,
    metadata_for,
)
from typer.testing import CliRunner

from fraudstream.cli import models as models_cli
from fraudstream.errors import ConfigError
from fraudstream.training import model_metadata
from fraudstream.training.gate import GateMetrics, PromotionDecision, decide
from fraudstream.training.history import (
    HistoryAction,
    HistoryEntry,
    append_history,
    champion_lineage,
)
from fraudstream.training.model_loading import LoadedModel
from fraudstream.training.registry import (
    RegistryError,
    list_versions,
    promote,
    read_history,
    register_challenger,
    rollback,
)
from fraudstream.training.registry_config import (
    GateConfig,
    RegistrySettings,
    registry_sections,
)
from fraudstream.training.tracking import configure_mlflow

pytestmark = [
    # MLflow 3.17's sqlite store uses SQLAlchemy's ``noload`` loader strategy, deprecated in
    # SQLAlchemy 2.1; it warns once, when the store module is first imported.
    pytest.mark.filterwarnings(
        "ignore:The ``noload`` loader strategy:sqlalchemy.exc.SADeprecationWarning"
    ),
]


def _metrics(store: RegistryStore, candidate: str) -> GateMetrics:
    scores = fraud_probability(store.estimators[candidate], store.splits.test)
    return gate_metrics(scores, store.splits.test)


def _register(settings: RegistrySettings, store: RegistryStore, candidate: str) -> int:
    return register_challenger(store.models[candidate], settings)


def _promote(
    settings: RegistrySettings, store: RegistryStore, version: int, baseline: str = "good"
) -> PromotionDecision:
    evaluate = incumbent_evaluator(store.splits.test)
    return promote(settings, version, evaluate, _metrics(store, baseline), actor="tester")


def _aliases(settings: RegistrySettings) -> dict[str, int]:
    model = MlflowClient().get_registered_model(settings.registry.model_name)
    return {alias: int(version) for alias, version in model.aliases.items()}


def _tags(settings: RegistrySettings, version: int) -> dict[str, str]:
    name = settings.registry.model_name
    return dict(MlflowClient().get_model_version(name, str(version)).tags)


def _history(settings: RegistrySettings) -> list[HistoryEntry]:
    return read_history(settings.registry.history_file)


# --- the gate's decision ----------------------------------------------------------------------


def _gm(ap: float, cp: float, window: str = TEST_WINDOW) -> GateMetrics:
    return GateMetrics(average_precision=ap, card_precision_top_k=cp, test_window=window)


GATE = GateConfig(margin_average_precision=0.005, margin_card_precision=0.005)


@pytest.mark.unit
def test_decide_promotes_a_challenger_that_clears_both_margins_over_the_champion() -> None:
    decision = decide(_gm(0.62, 0.31), _gm(0.60, 0.30), _gm(0.9, 0.9), GATE)

    assert decision.promoted, decision.reason
    assert decision.compared_with == "champion"
    assert decision.reference == _gm(0.60, 0.30)
    assert [c.cleared for c in decision.checks] == [True, True]
    assert "average_precision 0.6200 vs champion 0.6000 (gain +0.0200" in decision.reason


@pytest.mark.unit
def test_decide_refusal_names_the_metric_that_falls_short_and_by_how_much() -> None:
    decision = decide(_gm(0.65, 0.302), _gm(0.60, 0.30), _gm(0.1, 0.1), GATE)

    assert not decision.promoted
    ap, cp = decision.checks
    assert ap.cleared
    assert not cp.cleared
    assert cp.shortfall == pytest.approx(0.003)
    assert "card_precision_top_k 0.3020 vs champion 0.3000" in decision.reason
    assert "is 0.0030 short" in decision.reason
    assert "(card_precision_top_k must clear the margin)" in decision.reason


@pytest.mark.unit
@pytest.mark.parametrize(
    ("challenger", "promoted"), [(_gm(0.50, 0.40), True), (_gm(0.50, 0.20), False)]
)
def test_decide_measures_a_first_model_against_the_baseline(
    challenger: GateMetrics, promoted: bool
) -> None:
    decision = decide(challenger, None, _gm(0.30, 0.25), GATE)

    assert decision.promoted is promoted
    assert decision.compared_with == "baseline"
    assert "vs baseline 0.3000" in decision.reason


@pytest.mark.unit
def test_decide_accepts_a_gain_of_exactly_the_margin_despite_float_rounding() -> None:
    assert 0.105 - 0.1 < 0.005  # the float trap the gate must not fall into

    assert decide(_gm(0.105, 0.105), _gm(0.1, 0.1), _gm(0, 0), GATE).promoted


@pytest.mark.unit
def test_decide_refuses_metrics_measured_on_different_test_windows() -> None:
    champion = _gm(0.1, 0.1, window="2018-08-01..2018-08-07")

    decision = decide(_gm(0.9, 0.9), champion, _gm(0, 0), GATE)

    assert not decision.promoted
    assert decision.checks == ()
    assert "not comparable" in decision.reason
    assert "2018-08-01..2018-08-07" in decision.reason


@pytest.mark.unit
def test_decide_refuses_a_challenger_whose_metric_is_not_a_number() -> None:
    decision = decide(_gm(math.nan, 0.9), _gm(0.1, 0.1), _gm(0, 0), GATE)

    assert not decision.promoted
    assert "average_precision nan vs champion 0.1000" in decision.reason
    assert "is not a number" in decision.reason


@pytest.mark.unit
def test_decide_without_require_both_takes_one_gain_but_no_regression() -> None:
    lenient = GATE.model_copy(update={"require_both": False})
    champion = _gm(0.60, 0.30)

    assert decide(_gm(0.62, 0.30), champion, _gm(0, 0), lenient).promoted
    regressed = decide(_gm(0.70, 0.29), champion, _gm(0, 0), lenient)
    assert not regressed.promoted
    assert "card_precision_top_k got worse" in regressed.reason
    assert not decide(_gm(0.602, 0.302), champion, _gm(0, 0), lenient).promoted


# --- registration and promotion ---------------------------------------------------------------


@pytest.mark.integration
def test_registering_tags_the_version_with_its_metadata_and_makes_it_the_challenger(
    settings: RegistrySettings, registry_store: RegistryStore
) -> None:
    version = _register(settings, registry_store, "good")

    assert version == 1
    assert _aliases(settings) == {"challenger": 1}
    tags = _tags(settings, version)
    expected = metadata_for(registry_store.estimators["good"], registry_store.splits)
    assert float(tags["threshold"]) == expected.threshold
    assert int(tags["alert_budget_k"]) == expected.alert_budget_k
    assert tags["feature_definition_version"] == expected.feature_definition_version
    assert json.loads(tags["feature_names"]) == list(expected.feature_names)
    assert tags["test_window"] == TEST_WINDOW
    assert float(tags["metric.average_precision"]) == expected.average_precision
    assert float(tags["metric.card_precision_top_k"]) == expected.card_precision_top_k
    assert float(tags["metric.roc_auc"]) == expected.roc_auc
    assert len(tags["model_sha256"]) == 64
    managed = MlflowClient().get_registered_model(settings.registry.model_name)
    assert managed.tags["fraudstream.managed"] == "true"


@pytest.mark.integration
def test_first_model_beating_the_logistic_baseline_becomes_champion(
    settings: RegistrySettings, registry_store: RegistryStore
) -> None:
    version = _register(settings, registry_store, "better")

    decision = _promote(settings, registry_store, version, baseline="good")

    assert decision.promoted, decision.reason
    assert (decision.challenger_version, decision.champion_version) == (version, None)
    assert decision.compared_with == "baseline"
    assert decision.reason.startswith(f"version {version} promoted. Compared with the logistic")
    assert _aliases(settings) == {"challenger": version, "champion": version}
    assert _tags(settings, version)["gate.decision"] == "promoted"
    [entry] = _history(settings)
    assert (entry.action, entry.version, entry.previous_champion) == ("promote", version, None)
    assert (entry.by, entry.test_window, entry.compared_with) == ("tester", TEST_WINDOW, "baseline")
    assert set(entry.metrics) == {
        "challenger.average_precision",
        "challenger.card_precision_top_k",
        "baseline.average_precision",
        "baseline.card_precision_top_k",
    }


@pytest.mark.integration
def test_first_model_below_the_baseline_is_refused_and_the_refusal_recorded(
    settings: RegistrySettings, registry_store: RegistryStore
) -> None:
    version = _register(settings, registry_store, "worse")

    decision = _promote(settings, registry_store, version, baseline="good")

    assert not decision.promoted
    assert "there is still no champion" in decision.reason
    assert "average_precision" in decision.reason
    assert all(not check.cleared for check in decision.checks)
    assert "champion" not in _aliases(settings)
    assert _tags(settings, version)["gate.decision"] == "refused"
    [entry] = _history(settings)
    assert (entry.action, entry.reason) == ("refuse", decision.reason)
    assert entry.checks == decision.checks


@pytest.mark.integration
def test_worse_challenger_is_refused_the_champion_stays_and_the_audit_says_why(
    settings: RegistrySettings, registry_store: RegistryStore
) -> None:
    champion = _register(settings, registry_store, "good")
    assert _promote(settings, registry_store, champion, baseline="worse").promoted
    challenger = _register(settings, registry_store, "worse")

    decision = _promote(settings, registry_store, challenger)

    assert not decision.promoted
    assert decision.compared_with == "champion"
    assert f"version {challenger} refused; version {champion} stays champion" in decision.reason
    assert "Compared with the champion on 2018-08-08..2018-08-14" in decision.reason
    good, worse = _metrics(registry_store, "good"), _metrics(registry_store, "worse")
    shortfall = good.average_precision + 0.005 - worse.average_precision
    assert f"is {shortfall:.4f} short" in decision.reason
    assert _aliases(settings) == {"champion": champion, "challenger": challenger}
    entry = _history(settings)[-1]
    assert (entry.action, entry.version, entry.previous_champion) == (
        "refuse",
        challenger,
        champion,
    )
    assert entry.metrics["champion.average_precision"] == pytest.approx(good.average_precision)
    assert entry.metrics["challenger.average_precision"] == pytest.approx(worse.average_precision)
    assert entry.reason == decision.reason


@pytest.mark.integration
def test_better_challenger_is_promoted_over_the_champion_scored_by_the_caller(
    settings: RegistrySettings, registry_store: RegistryStore
) -> None:
    old = _register(settings, registry_store, "good")
    _promote(settings, registry_store, old, baseline="worse")
    new = _register(settings, registry_store, "better")
    scored: list[int | None] = []

    def evaluate(model: LoadedModel) -> GateMetrics:
        scored.append(model.version)
        return incumbent_evaluator(registry_store.splits.test)(model)

    decision = promote(settings, new, evaluate, _metrics(registry_store, "worse"), actor="ci")

    assert decision.promoted, decision.reason
    assert decision.reason.startswith(f"version {new} promoted, replacing champion version {old}")
    assert scored == [old]
    assert decision.reference == _metrics(registry_store, "good")
    assert (decision.challenger_version, decision.champion_version) == (new, old)
    assert _aliases(settings)["champion"] == new
    tags = _tags(settings, new)
    assert (tags["gate.decision"], tags["gate.reason"]) == ("promoted", decision.reason)
    assert datetime.fromisoformat(tags["gate.decided_at"]).tzinfo is not None
    assert [(e.action, e.version, e.previous_champion, e.by) for e in _history(settings)] == [
        ("promote", old, None, "tester"),
        ("promote", new, old, "ci"),
    ]


@pytest.mark.integration
def test_a_champion_trained_on_other_features_is_replaced_by_beating_the_baseline(
    settings: RegistrySettings, registry_store: RegistryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    splits = registry_store.splits
    with monkeypatch.context() as older_fraudstream:
        older_fraudstream.setattr(model_metadata, "definition_version", lambda: "0ld0ld0ld0ld")
        stale = fit_candidate("good", splits)
        configure_mlflow(settings.mlflow)
        version = register_challenger(
            log_candidate(stale, splits, metadata_for(stale, splits)), settings
        )
        assert _promote(settings, registry_store, version, baseline="worse").promoted
    challenger = _register(settings, registry_store, "better")

    def never_called(model: LoadedModel) -> GateMetrics:
        pytest.fail(f"a champion that cannot load was scored: {model.model_uri}")

    decision = promote(settings, challenger, never_called, _metrics(registry_store, "good"))

    assert decision.promoted, decision.reason
    assert decision.compared_with == "baseline"
    assert decision.champion_version == version
    assert f"replacing champion version {version}" in decision.reason
    assert f"Champion version {version} was not scored" in decision.reason
    assert "0ld0ld0ld0ld" in decision.reason


@pytest.mark.integration
def test_promoting_an_unknown_version_or_the_champion_itself_is_a_registry_error(
    settings: RegistrySettings, registry_store: RegistryStore
) -> None:
    with pytest.raises(RegistryError, match="version 1 of 'fraudstream' is not in the registry"):
        _promote(settings, registry_store, 1)
    version = _register(settings, registry_store, "good")
    _promote(settings, registry_store, version, baseline="worse")

    with pytest.raises(RegistryError, match=f"version {version} .* already is the champion"):
        _promote(settings, registry_store, version)

    assert RegistryError.exit_code == 8
    assert len(_history(settings)) == 1


@pytest.mark.integration
def test_a_foreign_model_of_the_same_name_is_never_touched(
    settings: RegistrySettings, registry_store: RegistryStore
) -> None:
    name = settings.registry.model_name
    configure_mlflow(settings.mlflow)
    MlflowClient().create_registered_model(name, tags={"team": "payments"})

    with pytest.raises(RegistryError, match=r"pick another registry\.model_name"):
        _register(settings, registry_store, "good")
    with pytest.raises(RegistryError, match=f"named '{name}'"):
        list_versions(settings)

    assert list(MlflowClient().search_model_versions(f"name = '{name}'")) == []


# --- rollback -----------------------------------------------------------------------------------


def _two_champions(settings: RegistrySettings, store: RegistryStore) -> tuple[int, int]:
    first = _register(settings, store, "good")
    assert _promote(settings, store, first, baseline="worse").promoted
    second = _register(settings, store, "better")
    assert _promote(settings, store, second).promoted
    return first, second


@pytest.mark.integration
def test_rollback_restores_the_previous_champion_and_records_it(
    settings: RegistrySettings, registry_store: RegistryStore
) -> None:
    first, second = _two_champions(settings, registry_store)

    entry = rollback(settings, actor="on-call")

    assert (entry.action, entry.version, entry.previous_champion) == ("rollback", first, second)
    assert entry.by == "on-call"
    good = _metrics(registry_store, "good")
    assert entry.metrics["restored.average_precision"] == pytest.approx(good.average_precision)
    assert f"from version {second} to version {first}" in entry.reason
    # the demoted version also loses the challenger alias, so it is not promoted straight back
    assert _aliases(settings) == {"champion": first}
    assert _tags(settings, second)["gate.decision"] == "rolled_back"
    assert "gate.restored_at" in _tags(settings, first)
    assert _history(settings)[-1] == entry


@pytest.mark.integration
def test_rollback_refuses_when_there_is_no_earlier_champion(
    settings: RegistrySettings, registry_store: RegistryStore
) -> None:
    with pytest.raises(RegistryError, match="no champion to roll back"):
        rollback(settings)
    version = _register(settings, registry_store, "good")
    _promote(settings, registry_store, version, baseline="worse")

    with pytest.raises(RegistryError, match=f"no earlier champion .* version {version}"):
        rollback(settings)

    assert _aliases(settings)["champion"] == version
    assert [e.action for e in _history(settings)] == ["promote"]


@pytest.mark.integration
def test_rolling_back_twice_walks_back_two_champions(
    settings: RegistrySettings, registry_store: RegistryStore
) -> None:
    lenient = settings.model_copy(
        update={"gate": GateConfig(margin_average_precision=0, margin_card_precision=0)}
    )
    versions = []
    for _ in range(3):  # the same model three times: equal metrics clear a zero margin
        versions.append(_register(lenient, registry_store, "good"))
        assert _promote(lenient, registry_store, versions[-1], baseline="worse").promoted

    restored = [rollback(lenient).version, rollback(lenient).version]

    assert restored == [versions[1], versions[0]]
    assert _aliases(lenient)["champion"] == versions[0]


@pytest.mark.integration
def test_rollback_refuses_when_the_champion_alias_was_moved_outside_fraudstream(
    settings: RegistrySettings, registry_store: RegistryStore
) -> None:
    first = _register(settings, registry_store, "good")
    _promote(settings, registry_store, first, baseline="worse")
    second = _register(settings, registry_store, "better")
    MlflowClient().set_registered_model_alias("fraudstream", "champion", str(second))

    with pytest.raises(RegistryError, match=f"says version {first} .* points at version {second}"):
        rollback(settings)


@pytest.mark.integration
def test_list_versions_shows_aliases_metrics_and_gate_decisions(
    settings: RegistrySettings, registry_store: RegistryStore
) -> None:
    assert list_versions(settings) == []
    good = _register(settings, registry_store, "good")
    _promote(settings, registry_store, good, baseline="worse")
    worse = _register(settings, registry_store, "worse")
    _promote(settings, registry_store, worse)

    listed = list_versions(settings)

    assert [(v.version, v.aliases, v.gate_decision) for v in listed] == [
        (worse, ("challenger",), "refused"),
        (good, ("champion",), "promoted"),
    ]
    assert listed[1].average_precision == pytest.approx(
        _metrics(registry_store, "good").average_precision
    )
    assert all(v.test_window == TEST_WINDOW and len(v.run_id) == 32 for v in listed)


@pytest.mark.integration
def test_history_file_is_valid_json_after_every_action_and_leaves_no_temp_files(
    settings: RegistrySettings, registry_store: RegistryStore
) -> None:
    path = settings.registry.history_file
    for count, candidate in enumerate(("good", "better", "worse"), start=1):
        _promote(settings, registry_store, _register(settings, registry_store, candidate), "worse")
        assert len(json.loads(path.read_text(encoding="utf-8"))) == count
    rollback(settings)

    recorded = json.loads(path.read_text(encoding="utf-8"))
    assert [item["action"] for item in recorded] == ["promote", "promote", "refuse", "rollback"]
    assert [p.name for p in path.parent.iterdir()] == [path.name]


# --- the CLI ------------------------------------------------------------------------------------


class _State:
    """Stands in for the CLI's AppState until the lead wires the sections into the config."""

    def __init__(self, settings: RegistrySettings) -> None:
        self._settings = settings

    def config(self) -> RegistrySettings:
        return self._settings


def _cli(settings: RegistrySettings) -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root(ctx: typer.Context) -> None:
        ctx.obj = _State(settings)

    models_cli.register(app)
    return app


@pytest.mark.integration
def test_cli_lists_versions_and_rolls_back(
    settings: RegistrySettings, registry_store: RegistryStore
) -> None:
    first, second = _two_champions(settings, registry_store)
    runner = CliRunner()

    listed = runner.invoke(_cli(settings), ["models", "list"])
    rolled = runner.invoke(_cli(settings), ["rollback", "--by", "on-call"])

    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].split()[:3] == ["version", "aliases", "test_window"]
    assert lines[1].split()[:2] == [str(second), "challenger,champion"]
    assert TEST_WINDOW in lines[1]
    assert rolled.exit_code == 0, rolled.output
    assert f"version {first} is champion again (was version {second})" in rolled.output
    assert _history(settings)[-1].by == "on-call"


@pytest.mark.integration
def test_cli_rollback_without_a_champion_fails_with_the_registry_exit_code(
    settings: RegistrySettings,
) -> None:
    result = CliRunner().invoke(_cli(settings), ["rollback"])

    assert isinstance(result.exception, RegistryError)
    assert result.exception.exit_code == 8
    assert "no champion to roll back" in str(result.exception)


@pytest.mark.unit
def test_registry_sections_default_as_documented_and_forbid_unknown_keys() -> None:
    defaults = RegistrySettings()

    assert defaults.mlflow.tracking_uri == "sqlite:///mlflow.db"
    assert defaults.registry.history_file == Path("models/model_registry.json")
    assert (defaults.gate.margin_average_precision, defaults.gate.require_both) == (0.005, True)
    with pytest.raises(ValidationError, match="margin"):
        GateConfig.model_validate({"margin": 0.01})
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        GateConfig(margin_card_precision=-0.01)


@pytest.mark.unit
def test_a_configuration_without_the_registry_sections_is_a_config_error() -> None:
    settings = RegistrySettings()

    assert registry_sections(settings) is settings
    with pytest.raises(ConfigError, match="no mlflow, registry, gate section"):
        registry_sections(object())


# --- the history file ---------------------------------------------------------------------------


def _entry(action: HistoryAction, version: int, model_name: str = "fraudstream") -> HistoryEntry:
    return HistoryEntry(
        action=action,
        model_name=model_name,
        version=version,
        previous_champion=None,
        run_id="r",
        metrics={},
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

    assert champion_lineage(entries, "fraudstream") == [1, 3, 5]
    assert champion_lineage([*entries, _entry("rollback", 1)], "fraudstream") == [1]
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
