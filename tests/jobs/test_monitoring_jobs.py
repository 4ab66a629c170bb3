"""The retraining trigger: an alarm trains and registers a challenger, and promotes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from churnguard.cli import main
from churnguard.cli.monitor import ALARM_EXIT_CODE
from churnguard.config import load_config
from churnguard.models.tracking import configure_mlflow

pytestmark = pytest.mark.e2e


def test_check_with_retrain_registers_a_challenger_and_keeps_the_champion(
    model_project: Path,
    monitored_traffic: tuple[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, reference = monitored_traffic
    with pytest.raises(SystemExit) as caught:
        main(["monitor", "check", "--store-url", url, "--reference", str(reference), "--retrain"])
    out, err = capsys.readouterr()
    assert caught.value.code == ALARM_EXIT_CODE, err
    assert "ALARM data drift" in err
    assert "registered as challenger" in out
    config = load_config(model_project / "configs" / "config.yaml")
    configure_mlflow(config.mlflow, experiment=False)
    model = MlflowClient().get_registered_model(config.registry.model_name)
    assert "challenger" in model.aliases
    assert "champion" not in model.aliases  # the gate was never asked


def test_stopping_an_experiment_is_recorded_in_the_audit_history(
    model_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    for command in (["pipeline"], ["train"]):  # v1 champion, then v2 challenger
        with pytest.raises(SystemExit) as caught:
            main(command)
        assert caught.value.code in (0, None), capsys.readouterr().err
    capsys.readouterr()
    with pytest.raises(SystemExit) as caught:
        main(["experiment", "stop", "--reason", "no measurable gain"])
    out, err = capsys.readouterr()
    assert caught.value.code in (0, None), err
    assert "challenger 2 not promoted" in out
    history = json.loads((model_project / "models" / "model_registry.json").read_text())
    last = history[-1]
    assert last["action"] == "experiment_stop"
    assert (last["version"], last["previous_champion"]) == (2, 1)
    assert last["reason"] == "no measurable gain"
