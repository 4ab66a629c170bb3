"""The offline validators of ``scripts/validate.sh`` (``make validate``).

Each check passes on the repository's own files and fails, for the expected reason, on a broken
copy laid out like the repository in a temporary folder (``validate.sh --root``), so the rules
in ``.hadolint.yaml`` and ``.yamllint.yaml`` are the ones under test. A tool that is not
installed skips the test outside CI and fails it in CI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "validate.sh"
CHECKS = ("hadolint", "compose", "actionlint", "yamllint")


@dataclass(frozen=True)
class Validation:
    """One run of ``validate.sh``: its exit code and output (stdout, then stderr)."""

    returncode: int
    output: str

    def line(self, check: str) -> tuple[str, str]:
        """``(status, detail)`` of the line the script printed for ``check``.

        A tool that is not installed skips the calling test, or fails it when CI is set.
        """
        match = re.search(
            rf"^{re.escape(check)}\s+(ok|FAIL|skipped)\s+(.*)$", self.output, flags=re.MULTILINE
        )
        assert match, f"validate.sh printed no line for {check}:\n{self.output}"
        status, detail = match.groups()
        if "not installed" in detail:
            if os.environ.get("CI"):
                pytest.fail(f"{check}: {detail}: CI must install it")
            pytest.skip(f"{check}: {detail}")
        return status, detail


def validate(*checks: str, root: Path | None = None, **env: str) -> Validation:
    """Run ``scripts/validate.sh [--root root] checks...`` with ``env`` added."""
    command = ["bash", str(SCRIPT)]
    if root is not None:
        command += ["--root", str(root)]
    result = subprocess.run(
        [*command, *checks],
        cwd=REPO_ROOT,
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Validation(result.returncode, result.stdout + result.stderr)


def assert_fails(validation: Validation, check: str, *expected: str) -> None:
    """``check`` failed, the script exited non-zero, and its output names every ``expected``."""
    status, _ = validation.line(check)
    assert status == "FAIL", f"{check} passed a broken file:\n{validation.output}"
    assert validation.returncode == 1, validation.output
    for text in expected:
        assert text in validation.output, f"{text!r} not in:\n{validation.output}"


def copy_from_repo(root: Path, *relative: str | Path) -> None:
    """Copy files or folders of the repository to the same place under ``root``."""
    for path in map(Path, relative):
        source, target = REPO_ROOT / path, root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)


def edit_yaml(path: Path, change: Callable[[Any], None]) -> None:
    """Load the single-document YAML file at ``path``, apply ``change``, write it back."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def replace_once(path: Path, old: str, new: str) -> None:
    """Replace the first ``old`` of the file at ``path`` by ``new`` (which must be there)."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}: update the test's broken copy"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# --- the repository's files pass -------------------------------------------------------------------


@pytest.fixture(scope="module")
def repository_validation() -> Validation:
    """Every check, once, on the repository."""
    return validate()


@pytest.mark.parametrize("check", CHECKS)
def test_validator_passes_on_the_repository_files(
    repository_validation: Validation, check: str
) -> None:
    status, detail = repository_validation.line(check)
    assert status == "ok", f"{check}: {status} {detail}\n{repository_validation.output}"


def test_validate_exits_zero_when_every_check_passes(repository_validation: Validation) -> None:
    for check in CHECKS:
        repository_validation.line(check)  # skips when a tool is missing (outside CI)
    assert repository_validation.returncode == 0, repository_validation.output
    assert f"validate: all {len(CHECKS)} checks passed" in repository_validation.output


# --- hadolint --------------------------------------------------------------------------------------


def test_hadolint_rejects_latest_tags_unpinned_packages_and_cd(tmp_path: Path) -> None:
    dockerfile = tmp_path / "deployment" / "Dockerfile"
    dockerfile.parent.mkdir()
    dockerfile.write_text(
        "FROM ubuntu:latest\nRUN cd /tmp && apt-get update && apt-get install -y curl\n",
        encoding="utf-8",
    )
    validation = validate("hadolint", root=tmp_path)
    assert_fails(validation, "hadolint", "DL3007", "DL3008", "DL3003")


def test_hadolint_rejects_the_real_dockerfile_with_add_for_a_local_folder(tmp_path: Path) -> None:
    # The real file, one instruction changed: the rules apply to it, none is ignored.
    copy_from_repo(tmp_path, "deployment/Dockerfile")
    replace_once(
        tmp_path / "deployment" / "Dockerfile", "COPY configs ./configs", "ADD configs ./configs"
    )
    assert_fails(validate("hadolint", root=tmp_path), "hadolint", "DL3020")


def test_hadolint_fails_when_the_dockerfile_is_missing(tmp_path: Path) -> None:
    assert_fails(validate("hadolint", root=tmp_path), "hadolint", "missing: deployment/Dockerfile")


# --- compose ---------------------------------------------------------------------------------------


@pytest.fixture
def compose_copy(tmp_path: Path) -> Path:
    """Both compose files of the repository under ``tmp_path``; returns the root one."""
    copy_from_repo(tmp_path, "docker-compose.yml", "deployment/docker-compose.yml")
    return tmp_path / "docker-compose.yml"


def test_compose_rejects_a_dependency_on_an_undefined_service(compose_copy: Path) -> None:
    def depend_on_ghost(compose: Any) -> None:
        compose["services"]["pipeline"]["depends_on"] = {"ghost": {"condition": "service_healthy"}}

    edit_yaml(compose_copy, depend_on_ghost)
    validation = validate("compose", root=compose_copy.parent)
    assert_fails(validation, "compose", 'depends on undefined service "ghost"')


def test_compose_rejects_an_unknown_service_key(compose_copy: Path) -> None:
    def misspell_image(compose: Any) -> None:
        compose["services"]["pipeline"]["imagee"] = compose["services"]["pipeline"].pop("image")

    edit_yaml(compose_copy, misspell_image)
    validation = validate("compose", root=compose_copy.parent)
    assert_fails(validation, "compose", "'imagee' not allowed")


# --- actionlint ------------------------------------------------------------------------------------

BROKEN_WORKFLOW = """\
name: broken
on: push
jobs:
  build:
    runs-on: ${{ matrix.os }}
    timeout-minuts: 5
    steps:
      - uses: actions/checkout@v4
"""


def test_actionlint_rejects_an_unknown_key_and_an_undefined_expression(tmp_path: Path) -> None:
    # Beside a copy of the real workflows: every file of .github/workflows/ is checked.
    copy_from_repo(tmp_path, ".github")
    (tmp_path / ".github" / "workflows" / "broken.yml").write_text(
        BROKEN_WORKFLOW, encoding="utf-8"
    )
    validation = validate("actionlint", root=tmp_path)
    assert_fails(
        validation,
        "actionlint",
        "broken.yml",
        'unexpected key "timeout-minuts"',
        'property "os" is not defined',
    )


def test_actionlint_fails_when_there_is_no_workflow(tmp_path: Path) -> None:
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    validation = validate("actionlint", root=tmp_path)
    assert_fails(validation, "actionlint", "missing: .github/workflows/*.yml")


# --- yamllint --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("model: a\nseed: 1\nmodel: b\n", "(key-duplicates)", id="duplicate-key"),
        pytest.param("retrain: yes\n", "(truthy)", id="yes-as-boolean"),
        pytest.param("features: [amount, terminal_risk_7d\n", "syntax error", id="syntax-error"),
        pytest.param("a:\n    b: 1\n", "(indentation)", id="four-space-indent"),
    ],
)
def test_yamllint_rejects_a_broken_configuration_file(
    tmp_path: Path, text: str, expected: str
) -> None:
    copy_from_repo(tmp_path, "configs")
    (tmp_path / "configs" / "broken.yaml").write_text(text, encoding="utf-8")
    validation = validate("yamllint", root=tmp_path)
    assert_fails(validation, "yamllint", "configs/broken.yaml", expected)


# --- the script itself -----------------------------------------------------------------------------


def test_a_missing_tool_is_skipped_outside_ci(tmp_path: Path) -> None:
    validation = validate("hadolint", HADOLINT=str(tmp_path / "no-hadolint"), CI="")
    assert re.search(r"^hadolint\s+skipped\s+.*not installed", validation.output, re.MULTILINE)
    assert validation.returncode == 0, validation.output


def test_a_missing_tool_fails_in_ci(tmp_path: Path) -> None:
    validation = validate("hadolint", HADOLINT=str(tmp_path / "no-hadolint"), CI="true")
    assert re.search(r"^hadolint\s+FAIL\s+.*not installed", validation.output, re.MULTILINE)
    assert validation.returncode == 1, validation.output


def test_every_check_runs_even_after_one_fails(tmp_path: Path) -> None:
    # An empty tree: the first check fails and the last one still reports.
    validation = validate("hadolint", "yamllint", root=tmp_path)
    assert validation.line("hadolint")[0] == "FAIL", validation.output
    assert validation.line("yamllint")[0] == "FAIL", validation.output
    assert "validate: FAILED: hadolint yamllint" in validation.output


def test_an_unknown_check_is_refused_with_the_list_of_checks() -> None:
    validation = validate("hadolnt")
    assert validation.returncode == 2
    assert "unknown check 'hadolnt'" in validation.output
    assert " ".join(CHECKS) in validation.output
