"""`churnguard monitor drift|performance|report|check` on a logged sqlite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from churnguard.cli import main
from churnguard.cli.monitor import ALARM_EXIT_CODE

pytestmark = pytest.mark.unit


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as caught:
        main(list(args))
    out, err = capsys.readouterr()
    return int(caught.value.code or 0), out, err


@pytest.fixture
def source(monitored_traffic: tuple[str, Path]) -> list[str]:
    url, reference = monitored_traffic
    return ["--store-url", url, "--reference", str(reference)]


@pytest.mark.usefixtures("project")
def test_drift_prints_every_feature_and_the_verdict(
    capsys: pytest.CaptureFixture[str], source: list[str]
) -> None:
    code, out, err = run_cli(capsys, "monitor", "drift", *source)
    assert code == 0, err
    assert "MonthlyCharges" in out
    assert "churn_probability" in out
    assert "drift:" in out
    assert "400 predictions" in out
    code, out, _ = run_cli(capsys, "monitor", "drift", *source, "--json")
    assert json.loads(out)["status"] == "drift"


@pytest.mark.usefixtures("project")
def test_a_window_limits_the_predictions(
    capsys: pytest.CaptureFixture[str], source: list[str]
) -> None:
    code, out, _ = run_cli(capsys, "monitor", "drift", *source, "--window", "100", "--json")
    assert code == 0
    assert json.loads(out)["n_rows"] == 100


@pytest.mark.usefixtures("project")
def test_performance_scores_the_labeled_predictions(
    capsys: pytest.CaptureFixture[str], monitored_traffic: tuple[str, Path]
) -> None:
    code, out, err = run_cli(
        capsys, "monitor", "performance", "--store-url", monitored_traffic[0], "--json"
    )
    assert code == 0, err
    (quality,) = json.loads(out)
    assert quality["model_version"] == "1"
    assert quality["n"] == 400
    assert 0.5 < quality["roc_auc"] <= 1.0


def test_report_writes_html_and_json(
    capsys: pytest.CaptureFixture[str], source: list[str], project: Path
) -> None:
    output = project / "out" / "monitoring.html"
    code, out, err = run_cli(capsys, "monitor", "report", *source, "--output", str(output))
    assert code == 0, err
    assert output.read_text(encoding="utf-8").startswith("<!doctype html>")
    twin = json.loads(output.with_suffix(".json").read_text(encoding="utf-8"))
    assert twin["window_rows"] == 400
    assert twin["alarms"]
    assert "alarm(s)" in out


@pytest.mark.usefixtures("project")
def test_check_exits_non_zero_on_drift_without_retraining(
    capsys: pytest.CaptureFixture[str], source: list[str]
) -> None:
    code, _, err = run_cli(capsys, "monitor", "check", *source, "--no-retrain")
    assert code == ALARM_EXIT_CODE
    assert "ALARM data drift" in err


@pytest.mark.usefixtures("project")
def test_check_passes_on_a_healthy_window(
    capsys: pytest.CaptureFixture[str], monitored_traffic: tuple[str, Path]
) -> None:
    # Without a reference for the configured model, only quality is judged: and it is fine.
    url, _ = monitored_traffic
    code, out, err = run_cli(capsys, "monitor", "check", "--store-url", url)
    assert code == 0, err
    assert out.startswith("ok:")


@pytest.mark.usefixtures("project")
def test_a_missing_reference_or_store_is_one_clear_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monitored_traffic: tuple[str, Path]
) -> None:
    missing = tmp_path / "nope.json"
    code, _, err = run_cli(
        capsys, "monitor", "drift", "--store-url", monitored_traffic[0], "--reference", str(missing)
    )
    assert code != 0
    assert str(missing) in err
    assert "Traceback" not in err
    code, _, err = run_cli(
        capsys, "monitor", "drift", "--store-url", f"sqlite:///{tmp_path / 'none.db'}"
    )
    assert code != 0
    assert "Traceback" not in err
