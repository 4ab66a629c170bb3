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

pytestmark = pytest.mark.unit


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as caught:
        main(list(args))
    out, err = capsys.readouterr()
    return int(caught.value.code or 0), out, err


def test_help_lists_every_stage(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    for command in ("ingest", "validate", "preprocess", "build-features", "pipeline", "params"):
        assert command in out


def test_each_command_explains_itself(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "ingest", "--help")
    assert code == 0
    assert "--source" in out
    assert "--query" in out
    assert "synthetic" in out


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from fraudstream import __version__

    assert run_cli(capsys, "version")[1].strip() == __version__


@pytest.mark.usefixtures("project")
def test_pipeline_runs_every_stage(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    code, out, err = run_cli(capsys, "pipeline", "--data-only")
    assert code == 0, err
    assert "ingested 400 rows from synthetic" in out
    assert "pipeline finished" in out
    assert (project / "data" / "features" / "reference_profile.json").is_file()
    stages = {json.loads(line)["stage"] for line in err.splitlines() if line.startswith("{")}
    assert {"ingest", "validate", "preprocess", "build-features"} <= stages


@pytest.mark.usefixtures("project")
def test_stage_commands_run_one_after_another(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        run_cli(capsys, "ingest", "--source", "synthetic", "--rows", "300", "--seed", "3")[0] == 0
    )
    code, out, _ = run_cli(capsys, "validate")
    assert code == 0
    assert "validation passed: 300 rows, 0 failures" in out
    assert run_cli(capsys, "preprocess")[0] == 0
    code, out, _ = run_cli(capsys, "build-features")
    assert code == 0
    assert "reference profile" in out


def test_environment_source_reaches_the_pipeline(
    capsys: pytest.CaptureFixture[str],
    project: Path,
    raw_csv: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FRAUDSTREAM_DATA_SOURCE", str(raw_csv))
    code, out, err = run_cli(capsys, "pipeline", "--data-only")
    assert code == 0, err
    assert f"from {raw_csv}" in out
    manifest = json.loads((project / "data" / "raw" / "manifest.json").read_text())
    assert manifest["source_kind"] == "file"


@pytest.mark.usefixtures("project")
def test_user_mistake_prints_one_paragraph_without_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_cli(capsys, "ingest", "--source", "does/not/exist.csv")
    assert code == 4
    assert err.startswith("error: source file does/not/exist.csv does not exist")
    assert "Traceback" not in err
    assert out == ""


@pytest.mark.usefixtures("project")
def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "--debug", "ingest", "--source", "does/not/exist.csv")
    assert code == 4
    assert "Traceback" in err


def test_invalid_data_fails_validate_with_column_value_and_fix(
    capsys: pytest.CaptureFixture[str], project: Path, raw_customers: pd.DataFrame, tmp_path: Path
) -> None:
    bad = raw_customers.copy()
    bad.loc[4, "PaymentMethod"] = "Bitcoin"
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    assert run_cli(capsys, "ingest", "--source", str(path))[0] == 0
    code, _, err = run_cli(capsys, "validate")
    assert code == 5
    assert "column 'PaymentMethod'" in err
    assert "'Bitcoin' (row 5)" in err
    assert "fix: use one of" in err
    assert (project / "reports" / "validation.txt").read_text().startswith("Validation FAILED")
    assert not (project / "data" / "processed" / "train.parquet").exists()


@pytest.mark.usefixtures("project")
def test_preprocess_before_ingest_is_a_state_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "preprocess")
    assert code == 6
    assert "run `fraudstream ingest` first" in err


def test_bad_config_value_exits_with_the_config_code(
    capsys: pytest.CaptureFixture[str], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRAUDSTREAM_SPLIT_SEED", "not-a-number")
    code, _, err = run_cli(capsys, "validate")
    assert code == 3
    assert "'split.seed' = 'not-a-number'" in err
    assert "FRAUDSTREAM_SPLIT_SEED" in err


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
    monkeypatch.setenv("FRAUDSTREAM_SPLIT_SEED", "11")
    code, out, _ = run_cli(capsys, "params", "--output", "params.yaml")
    assert (code, out.strip()) == (0, "wrote params.yaml")
    assert yaml.safe_load((project / "params.yaml").read_text())["split"]["seed"] == 11
    code, out, _ = run_cli(capsys, "params", "--output", "params.yaml")
    assert (code, out) == (0, "")


def test_no_env_ignores_overrides(
    capsys: pytest.CaptureFixture[str], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRAUDSTREAM_DATA_SYNTHETIC", '{"n_rows": 150}')
    assert run_cli(capsys, "--no-env", "ingest")[0] == 0
    assert json.loads((project / "data" / "raw" / "manifest.json").read_text())["rows"] == 400


@pytest.mark.usefixtures("project")
def test_resolve_source_prints_a_local_source_unchanged(
    capsys: pytest.CaptureFixture[str], raw_csv: Path
) -> None:
    code, out, _ = run_cli(capsys, "resolve-source", "--source", str(raw_csv))
    assert (code, out.strip()) == (0, str(raw_csv))


@pytest.mark.usefixtures("project")
def test_resolve_source_falls_back_to_synthetic_with_a_banner(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "http://127.0.0.1:9/telco.csv"
    code, out, err = run_cli(capsys, "resolve-source", "--source", url, "--offline-fallback")
    assert (code, out.strip()) == (0, "synthetic")
    assert "OFFLINE: USING SYNTHETIC DATA" in err
    code, _, err = run_cli(capsys, "resolve-source", "--source", url)
    assert code == 4
    assert "--offline-fallback" in err


def test_unreachable_url_pipeline_falls_back_to_synthetic(
    capsys: pytest.CaptureFixture[str], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRAUDSTREAM_DATA_DOWNLOAD", '{"retries": 0, "timeout_seconds": 2}')
    code, out, err = run_cli(
        capsys,
        "pipeline",
        "--data-only",
        "--source",
        "http://127.0.0.1:9/telco.csv",
        "--offline-fallback",
    )
    assert code == 0, err
    assert "OFFLINE: USING SYNTHETIC DATA" in err
    assert "from synthetic" in out
    assert (
        json.loads((project / "data" / "raw" / "manifest.json").read_text())["source_kind"]
        == "synthetic"
    )


@pytest.mark.usefixtures("project")
def test_unreachable_url_without_fallback_names_both_ways_out(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRAUDSTREAM_DATA_DOWNLOAD", '{"retries": 0, "timeout_seconds": 2}')
    code, _, err = run_cli(capsys, "ingest", "--source", "http://127.0.0.1:9/telco.csv")
    assert code == 4
    assert "--source PATH" in err
    assert "--source synthetic" in err


@pytest.mark.usefixtures("project")
def test_sha256_option_is_enforced(capsys: pytest.CaptureFixture[str], raw_csv: Path) -> None:
    code, _, err = run_cli(capsys, "ingest", "--source", str(raw_csv), "--sha256", "0" * 64)
    assert code == 4
    assert "0" * 64 in err
    assert not Path("data/raw/customers.csv").exists()


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
