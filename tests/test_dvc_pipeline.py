"""The DVC pipeline, run for real in a temporary copy of the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fraudstream.io import sha256_file

REPO_ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = (
    "data/raw/customers.csv",
    "data/processed/train.parquet",
    "data/processed/validation.parquet",
    "data/processed/test.parquet",
    "data/features/train_features.parquet",
    "data/features/reference_profile.json",
)

MODEL_OUTPUTS = (
    "models/best_params.json",
    "models/train_result.json",
    "reports/metrics.json",
    "reports/promotion.json",
    "reports/evaluation/roc_curve.png",
)

pytestmark = pytest.mark.integration


def _run(repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUDSTREAM_")}
    env |= {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
        "FRAUDSTREAM_DATA_SOURCE": "synthetic",
        "FRAUDSTREAM_DATA_SYNTHETIC": '{"n_rows": 600, "seed": 3}',
        "FRAUDSTREAM_LOG_LEVEL": "WARNING",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        # Small budgets: this test is about DVC, not model quality.
        "FRAUDSTREAM_TUNING": '{"n_trials": 2, "cv_folds": 2, "timeout_seconds": 60}',
        "FRAUDSTREAM_MODEL": '{"cv_folds": 2, "calibration": "none", "lightgbm": {"n_estimators": 40}}',
        "FRAUDSTREAM_GATE": '{"min_auc": 0.5}',
    }
    result = subprocess.run(
        args, cwd=repo, env=env, capture_output=True, text=True, check=False, timeout=600
    )
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh git checkout of the working tree (tracked and new files), with the pipeline run once."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    target = tmp_path_factory.mktemp("dvc") / "repo"
    for name in listed:
        source = REPO_ROOT / name
        if source.is_file() and not name.startswith(("data/", "reports/")) and name != "dvc.lock":
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    for folder in ("data/raw", "data/processed", "data/features", "reports"):
        (target / folder).mkdir(parents=True, exist_ok=True)
    _run(target, "git", "init", "-q")
    _run(target, "fraudstream", "params", "--output", "params.yaml")
    _run(target, "dvc", "repro")
    return target


def test_dvc_repro_builds_every_output(repo: Path) -> None:
    for name in (*OUTPUTS, *MODEL_OUTPUTS):
        assert (repo / name).is_file(), name
    assert "n_rows: 600" in (repo / "params.yaml").read_text()
    assert (repo / "dvc.lock").is_file()


def test_second_dvc_repro_has_nothing_to_reproduce(repo: Path) -> None:
    output = _run(repo, "dvc", "repro")
    assert "Data and pipelines are up to date." in output
    assert "Running stage" not in output
    assert "Data and pipelines are up to date." in _run(repo, "dvc", "status")


def test_dvc_push_then_pull_restores_identical_data(repo: Path) -> None:
    before = {name: sha256_file(repo / name) for name in OUTPUTS}
    _run(repo, "dvc", "push")
    assert any((repo / ".dvcstore").rglob("*")), "nothing reached the local remote"
    shutil.rmtree(repo / ".dvc" / "cache")
    for name in OUTPUTS:
        (repo / name).unlink()
    _run(repo, "dvc", "pull")
    assert {name: sha256_file(repo / name) for name in OUTPUTS} == before
    assert "Data and pipelines are up to date." in _run(repo, "dvc", "status")


def test_changing_one_param_reruns_only_the_stages_that_read_it(repo: Path) -> None:
    params = repo / "params.yaml"
    original = params.read_text()
    try:
        params.write_text(
            original.replace("  seed: 42\n  stratify: true", "  seed: 43\n  stratify: true")
        )
        assert params.read_text() != original
        output = _run(repo, "dvc", "repro")
        assert "Running stage 'preprocess'" in output
        assert "Running stage 'build-features'" in output
        assert "Running stage 'ingest'" not in output
        assert "Running stage 'validate'" not in output
        assert "Running stage 'train'" in output
    finally:
        params.write_text(original)
        _run(repo, "dvc", "repro")


def test_dvc_metrics_show_reads_the_evaluation(repo: Path) -> None:
    output = _run(repo, "dvc", "metrics", "show")
    assert "roc_auc" in output
    assert "reports/metrics.json" in output


def test_dvc_plots_show_renders_the_evaluation_plots(repo: Path) -> None:
    _run(repo, "dvc", "plots", "show", "--out", "dvc_plots")
    page = (repo / "dvc_plots" / "index.html").read_text()
    assert "roc_curve.png" in page
    assert "profit_curve.csv" in page
