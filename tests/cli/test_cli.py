from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from fraudstream.cli import main
from fraudstream.feature_store import FEATURE_NAMES

pytestmark = pytest.mark.unit


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as caught:
        main(list(args))
    out, err = capsys.readouterr()
    return int(caught.value.code or 0), out, err


def test_help_lists_every_stage(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    for command in ("simulate", "ingest", "validate", "features", "pipeline", "params", "summary"):
        assert command in out


def test_each_command_explains_itself(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "ingest", "--help")
    assert code == 0
    assert "--source" in out
    assert "--query" in out
    assert "simulator" in out


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from fraudstream import __version__

    assert run_cli(capsys, "version")[1].strip() == __version__


@pytest.mark.integration
def test_pipeline_runs_every_stage_and_summary_shows_it(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    code, out, err = run_cli(capsys, "pipeline")
    assert code == 0, err
    assert "ingested" in out
    assert "from simulator" in out
    assert "pipeline finished: ingest → validate → features" in out
    stages = {json.loads(line)["stage"] for line in err.splitlines() if line.startswith("{")}
    assert {"ingest", "validate", "features"} <= stages
    features = pd.read_parquet(project / "data" / "features" / "features.parquet")
    processed = pd.read_parquet(project / "data" / "processed" / "transactions.parquet")
    assert list(features.columns) == ["TRANSACTION_ID", *FEATURE_NAMES]
    assert features["TRANSACTION_ID"].tolist() == processed["TRANSACTION_ID"].tolist()
    code, out, err = run_cli(capsys, "summary", "--rows", "3")
    assert code == 0, err
    assert f"{len(processed):,} transactions" in out
    assert "frauds by scenario: amount over 220 " in out
    assert "CUSTOMER_ID_NB_TX_7DAY_WINDOW" in out


@pytest.mark.integration
def test_stage_commands_run_one_after_another(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    assert run_cli(capsys, "ingest")[0] == 0
    assert run_cli(capsys, "validate")[0] == 0
    code, _, err = run_cli(capsys, "features", "build")
    assert code == 0, err
    assert (project / "data" / "features" / "features.parquet").is_file()


@pytest.mark.usefixtures("project")
def test_summary_before_the_pipeline_is_a_state_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "summary")
    assert code == 6
    assert "run the pipeline first" in err


@pytest.mark.usefixtures("project")
def test_validate_before_ingest_is_a_state_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "validate")
    assert code == 6
    assert "run `fraudstream ingest` first" in err


@pytest.mark.usefixtures("project")
def test_user_mistake_prints_one_paragraph_without_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run_cli(capsys, "ingest", "--source", "does/not/exist.csv")
    assert code == 4
    assert err.startswith("error: ")
    assert "does not exist" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.usefixtures("project")
def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "--debug", "ingest", "--source", "does/not/exist.csv")
    assert code == 4
    assert "Traceback" in err


def test_bad_config_value_exits_with_the_config_code(
    capsys: pytest.CaptureFixture[str], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRAUDSTREAM_SIMULATOR_SEED", "not-a-number")
    code, _, err = run_cli(capsys, "validate")
    assert code == 3
    assert "'simulator.seed' = 'not-a-number'" in err
    assert "FRAUDSTREAM_SIMULATOR_SEED" in err


def test_missing_config_file_is_explained(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_cli(capsys, "--config", str(tmp_path / "none.yaml"), "validate")
    assert code == 3
    assert "does not exist" in err


@pytest.mark.usefixtures("project")
def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "ingest", "--sauce", "x")
    assert code == 2
    assert "--sauce" in err


def test_params_writes_the_resolved_config_only_when_it_changes(
    capsys: pytest.CaptureFixture[str], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRAUDSTREAM_SIMULATOR_SEED", "11")
    code, out, _ = run_cli(capsys, "params", "--output", "params.yaml")
    assert (code, out.strip()) == (0, "wrote params.yaml")
    assert yaml.safe_load((project / "params.yaml").read_text())["simulator"]["seed"] == 11
    code, out, _ = run_cli(capsys, "params", "--output", "params.yaml")
    assert (code, out) == (0, "")


@pytest.mark.integration
def test_no_env_ignores_overrides(
    capsys: pytest.CaptureFixture[str], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRAUDSTREAM_SIMULATOR_DAYS", "3")
    assert run_cli(capsys, "--no-env", "ingest")[0] == 0
    details = json.loads((project / "data" / "raw" / "manifest.json").read_text())["details"]
    assert details["simulator_days"] == 30


@pytest.mark.integration
def test_environment_source_reaches_the_pipeline(
    capsys: pytest.CaptureFixture[str],
    project: Path,
    transactions_csv: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FRAUDSTREAM_DATA_SOURCE", str(transactions_csv))
    code, out, err = run_cli(capsys, "pipeline")
    assert code == 0, err
    assert f"from {transactions_csv}" in out
    manifest = json.loads((project / "data" / "raw" / "manifest.json").read_text())
    assert manifest["source_kind"] == "file"


@pytest.mark.usefixtures("project")
def test_sha256_option_is_enforced(
    capsys: pytest.CaptureFixture[str], transactions_csv: Path
) -> None:
    code, _, err = run_cli(
        capsys, "ingest", "--source", str(transactions_csv), "--sha256", "0" * 64
    )
    assert code == 4
    assert "0" * 64 in err
    assert not Path("data/raw/transactions.parquet").exists()


@pytest.mark.integration
def test_installed_console_script_reports_errors_without_traceback(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("fraudstream")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUDSTREAM_")}
    result = subprocess.run(
        [str(script), "--config", str(tmp_path / "missing.yaml"), "validate"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert result.returncode == 3
    assert result.stderr.startswith("error: config file")
    assert "Traceback" not in result.stderr
