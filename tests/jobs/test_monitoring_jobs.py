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
