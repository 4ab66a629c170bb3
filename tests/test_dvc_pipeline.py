"""The DVC pipeline (ingest → validate → features), run for real in a small temporary project.

The project holds the repository's ``dvc.yaml``, ``.dvc/config``, ``.dvcignore``,
``.gitignore`` and ``configs/``, with the simulator shrunk to 100 cards x 200 terminals x 30
days, and the code the stages depend on. ``params.yaml`` is written by ``fraudstream params``,
as ``make pipeline`` does. The repository's own committed ``params.yaml`` and ``dvc.lock`` are
checked against the code and configuration they claim to record.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
SMALL_SIMULATION = {"customers": 200, "terminals": 400, "days": 60, "seed": 7}
#: A protocol that fits the small simulation, and a model small enough to train in seconds.
SMALL_MODEL = {
    "protocol": {"start_date": "2018-05-06", "folds": 2},
    "model": {"lightgbm": {"n_estimators": 30, "num_leaves": 7, "min_child_samples": 20}},
    "tuning": {"n_trials": 1, "max_estimators": 30, "max_leaves": 8},
}
STAGES = ("ingest", "validate", "features", "train", "promote")
OUTPUTS = (
    "data/raw/transactions.parquet",
    "data/raw/manifest.json",
    "data/processed/transactions.parquet",
    "reports/validation.json",
    "reports/validation.txt",
    "data/features/features.parquet",
    "data/features/features.json",
    "reports/training.json",
    "reports/promotion.json",
)
UP_TO_DATE = "Data and pipelines are up to date."
#: What the project copies from the repository, besides configs/ and the feature definitions.
COPIED = (
    "dvc.yaml",
    ".dvc/config",
    ".dvc/.gitignore",
    ".dvcignore",
    ".gitignore",
    "configs/logging.yaml",
)
FEATURE_STORE = Path("src/fraudstream/feature_store")


def _code_deps() -> list[Path]:
    """The source files and folders the stages of ``dvc.yaml`` depend on."""
    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    deps = {dep for stage in stages.values() for dep in stage.get("deps", [])}
    return sorted(Path(dep) for dep in deps if dep.startswith("src/"))


pytestmark = [
    pytest.mark.integration,
    # MLflow 3.17 saves input examples with an operation pandas 3 deprecates.
    pytest.mark.filterwarnings("ignore:Operation with range is deprecated"),
]


def _run(project: Path, *args: str) -> str:
    """Run a command in ``project`` with the test's Python first on PATH; return its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUDSTREAM_")}
    env |= {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
        "FRAUDSTREAM_LOG_LEVEL": "WARNING",
    }
    result = subprocess.run(
        args, cwd=project, env=env, capture_output=True, text=True, check=False, timeout=600
    )
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def _ran(output: str) -> set[str]:
    """The stages ``dvc repro`` ran, read from its output."""
    return {name for name in STAGES if f"Running stage '{name}'" in output}


def _params_and_repro(project: Path) -> str:
    _run(project, "fraudstream", "--config", "configs/config.yaml", "params")
    return _run(project, "dvc", "repro")


@contextmanager
def _changed(project: Path, path: Path, text: str) -> Iterator[None]:
    """Replace a file of the project for the block, then restore it and the pipeline's state."""
    original = (project / path).read_text(encoding="utf-8")
    (project / path).write_text(text, encoding="utf-8")
    try:
        yield
    finally:
        (project / path).write_text(original, encoding="utf-8")
        _params_and_repro(project)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small git + DVC project with the repository's pipeline, not yet reproduced."""
    search = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    for tool in ("git", "dvc"):
        if shutil.which(tool, path=search) is None:
            pytest.skip(f"{tool} is not installed")
    root = tmp_path_factory.mktemp("dvc") / "project"
    for name in COPIED:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / name, root / name)
    for dep in _code_deps():
        if (REPO_ROOT / dep).is_dir():
            shutil.copytree(
                REPO_ROOT / dep, root / dep, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            (root / dep).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO_ROOT / dep, root / dep)
    config = yaml.safe_load((REPO_ROOT / "configs" / "config.yaml").read_text(encoding="utf-8"))
    config["data"]["source"] = "simulator"
    config["simulator"] |= SMALL_SIMULATION
    for section, values in SMALL_MODEL.items():
        config[section] |= values
    (root / "configs" / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    _run(root, "git", "init", "-q")
    return root


@pytest.fixture(scope="module")
def first_run(project: Path) -> str:
    """The output of the first ``fraudstream params`` + ``dvc repro`` in :func:`project`."""
    return _params_and_repro(project)


def test_the_first_repro_runs_every_stage_and_builds_every_output(
    project: Path, first_run: str
) -> None:
    assert _ran(first_run) == set(STAGES)
    missing = [name for name in OUTPUTS if not (project / name).is_file()]
    assert missing == []
    manifest = json.loads((project / "data/raw/manifest.json").read_text())
    assert manifest["source"] == "simulator"
    assert manifest["details"]["simulator_customers"] == SMALL_SIMULATION["customers"]
    assert json.loads((project / "reports/validation.json").read_text())["passed"] is True
    assert (project / "dvc.lock").is_file()


def test_a_second_repro_reproduces_nothing(project: Path, first_run: str) -> None:
    output = _params_and_repro(project)

    assert UP_TO_DATE in output
    assert _ran(output) == set()
    assert UP_TO_DATE in _run(project, "dvc", "status")


def test_neither_params_nor_lock_is_git_ignored(project: Path) -> None:
    def ignored(name: str) -> bool:
        check = subprocess.run(["git", "check-ignore", "-q", name], cwd=project, check=False)
        return check.returncode == 0

    assert not ignored("params.yaml")
    assert not ignored("dvc.lock"), "DVC refuses to read or write a git-ignored dvc.lock"


def test_the_committed_params_are_the_resolved_configuration(tmp_path: Path) -> None:
    written = tmp_path / "params.yaml"
    _run(REPO_ROOT, "fraudstream", "--no-env", "params", "--output", str(written))
    assert written.read_text(encoding="utf-8") == (REPO_ROOT / "params.yaml").read_text(
        encoding="utf-8"
    ), "params.yaml is stale: run `make pipeline` and commit params.yaml and dvc.lock"


def test_the_committed_lock_records_the_current_code_and_params() -> None:
    status = json.loads(_run(REPO_ROOT, "dvc", "status", "--json"))
    stale = {
        stage: change
        for stage, changes in status.items()
        for change in changes
        if isinstance(change, dict)
        and ({"changed deps", "changed params"} & change.keys())
        and any(
            str(path).startswith("src/") or path == "params.yaml"
            for kind in ("changed deps", "changed params")
            for path in change.get(kind, {})
        )
    }
    assert stale == {}, "dvc.lock is stale: run `make pipeline` and commit dvc.lock"


def test_a_validation_setting_change_reruns_validation_but_not_ingestion(
    project: Path, first_run: str
) -> None:
    config = yaml.safe_load((project / "configs/config.yaml").read_text())
    config["validation"]["max_examples"] += 1

    with _changed(project, Path("configs/config.yaml"), yaml.safe_dump(config)):
        output = _params_and_repro(project)

    assert "validate" in _ran(output)
    assert "ingest" not in _ran(output)
    assert "Stage 'ingest' didn't change, skipping" in output


def test_a_feature_definition_change_reruns_only_the_features(
    project: Path, first_run: str
) -> None:
    definition = FEATURE_STORE / "definition.py"
    edited = (project / definition).read_text(encoding="utf-8") + "\n# a changed definition\n"

    with _changed(project, definition, edited):
        output = _run(project, "dvc", "repro")

    assert _ran(output) == {"features"}
