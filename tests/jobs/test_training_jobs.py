"""The model stages end to end through the CLI, on a small synthetic project with its own MLflow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from churnguard.cli import main
from churnguard.config import load_config
from churnguard.jobs.training import run_train

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as caught:
        main(list(args))
    out, err = capsys.readouterr()
    return int(caught.value.code or 0), out, err


def test_full_pipeline_ends_with_a_champion_and_an_audit_trail(
    model_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "pipeline")
    assert code == 0, err
    assert "PROMOTED" in out
    assert (
        "ingest → validate → preprocess → build-features → tune → train → evaluate → promote" in out
    )
    best = json.loads((model_project / "models" / "best_params.json").read_text())
    trained = json.loads((model_project / "models" / "train_result.json").read_text())
    assert (
        trained["params"]["lightgbm__n_estimators"] == best["best_params"]["lightgbm__n_estimators"]
    )
    metrics = json.loads((model_project / "reports" / "metrics.json").read_text())
    assert metrics["roc_auc"] == pytest.approx(trained["metrics"]["test_roc_auc"])
    assert (model_project / "reports" / "evaluation" / "roc_curve.png").stat().st_size > 5000
    history = json.loads((model_project / "models" / "model_registry.json").read_text())
    assert [entry["action"] for entry in history] == ["promote"]
    code, out, _ = run_cli(capsys, "models", "list")
    assert code == 0
    assert "champion" in out
    client = MlflowClient(tracking_uri=f"sqlite:///{model_project / 'mlflow.db'}")
    run = client.get_run(trained["run_id"])
    assert run.data.tags["data_sha256"] == trained["data_sha256"]
    assert {"git_commit", "config_hash", "version.lightgbm"} <= set(run.data.tags)
    trials = client.search_runs(
        [run.info.experiment_id], filter_string="tags.mlflow.runName LIKE 'trial-%'"
    )
    assert len(trials) == 2
    assert all("mlflow.parentRunId" in t.data.tags for t in trials)


def test_a_worse_challenger_is_refused_and_rollback_restores_the_previous_champion(
    model_project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_cli(capsys, "pipeline")[0] == 0
    monkeypatch.setenv("CHURNGUARD_TUNING_ENABLED", "false")
    monkeypatch.setenv("CHURNGUARD_MODEL_ESTIMATOR", "lightgbm")
    monkeypatch.setenv(
        "CHURNGUARD_MODEL_LIGHTGBM", '{"n_estimators": 2, "num_leaves": 2, "learning_rate": 0.01}'
    )
    assert run_cli(capsys, "train")[0] == 0
    code, out, _ = run_cli(capsys, "promote")
    assert code == 0
    assert out.startswith("REFUSED")
    client = MlflowClient(tracking_uri=f"sqlite:///{model_project / 'mlflow.db'}")
    assert int(client.get_model_version_by_alias("churnguard", "champion").version) == 1
    for name in (
        "CHURNGUARD_MODEL_LIGHTGBM",
        "CHURNGUARD_MODEL_ESTIMATOR",
        "CHURNGUARD_TUNING_ENABLED",
    ):
        monkeypatch.delenv(name)
    # Retraining the champion's configuration gives an identical model: with margin 0 it passes.
    assert run_cli(capsys, "train")[0] == 0
    code, out, _ = run_cli(capsys, "promote")
    assert out.startswith("PROMOTED")
    assert int(client.get_model_version_by_alias("churnguard", "champion").version) == 3
    code, out, err = run_cli(capsys, "rollback")
    assert code == 0, err
    assert "version 1 is champion again" in out
    assert int(client.get_model_version_by_alias("churnguard", "champion").version) == 1
    history = json.loads((model_project / "models" / "model_registry.json").read_text())
    assert [entry["action"] for entry in history] == ["promote", "refuse", "promote", "rollback"]
    assert history[1]["metrics"]


def test_promote_without_a_challenger_says_to_train_first(
    model_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "promote")
    assert code != 0
    assert "train" in err
    assert "Traceback" not in err


def test_train_without_processed_data_is_a_state_error(
    model_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "train")
    assert code == 6
    assert "churnguard preprocess" in err


def test_unreachable_tracking_server_is_a_clear_error(
    model_project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_cli(capsys, "pipeline", "--data-only")[0] == 0
    monkeypatch.setenv("CHURNGUARD_MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("CHURNGUARD_TUNING_ENABLED", "false")
    code, _, err = run_cli(capsys, "train")
    assert code == 8
    assert "http://127.0.0.1:9 is unreachable" in err


def test_a_failed_run_is_marked_failed_and_never_registered(
    model_project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_cli(capsys, "pipeline", "--data-only")[0] == 0
    config = load_config(model_project / "configs" / "config.yaml")

    def broken_fit(*_: object, **__: object) -> None:
        raise RuntimeError("simulated training failure")

    monkeypatch.setattr("churnguard.models.run.fit_model", broken_fit)
    with pytest.raises(RuntimeError, match="simulated"):
        run_train(config)
    client = MlflowClient(tracking_uri=config.mlflow.tracking_uri)
    experiment = client.get_experiment_by_name(config.mlflow.experiment)
    runs = client.search_runs([experiment.experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]
    assert client.search_registered_models() == [] or not client.search_model_versions(
        "name='churnguard'"
    )
    assert not (model_project / "models" / "train_result.json").exists()


def test_models_list_shows_the_test_roc_auc(
    model_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(capsys, "pipeline")[0] == 0
    trained = json.loads((model_project / "models" / "train_result.json").read_text())
    code, out, _ = run_cli(capsys, "models", "list")
    assert code == 0
    assert f"{trained['metrics']['test_roc_auc']:.4f}" in out
