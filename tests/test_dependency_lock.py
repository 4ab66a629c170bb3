"""A dependency cannot change silently: pyproject.toml, uv.lock, requirements.txt and the
environment the tests run in must agree, so a change to one without the others fails CI.

The first checks read the files directly; the uv ones run the project's pinned uv offline
(`.tools/bin/uv`, which `make install` creates; skipped without it, failed on CI).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[1]
PROJECT = "fraudstream"
#: The command whose output requirements.txt is (Makefile target `requirements`).
EXPORT = ["export", "--frozen", "--all-extras", "--no-dev", "--no-emit-project", "--quiet"]


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _lock() -> dict[str, Any]:
    return tomllib.loads((REPO_ROOT / "uv.lock").read_text(encoding="utf-8"))


def _key(name: str, specifier: str, extras: Any = (), marker: str | None = None) -> str:
    # One comparable text per requirement: canonical name, sorted extras, specifier set, marker.
    text = canonicalize_name(name)
    if extras:
        text += "[" + ",".join(sorted(extras)) + "]"
    parsed = Requirement(f"{text}{specifier}" + (f"; {marker}" if marker else ""))
    return str(parsed).replace(" ", "")


def _requirement_key(requirement: str, extra: str | None = None) -> str:
    parsed = Requirement(requirement)
    marker = str(parsed.marker) if parsed.marker else None
    if extra is not None:
        extra_marker = f"extra == '{extra}'"
        marker = f"({marker}) and {extra_marker}" if marker else extra_marker
    return _key(parsed.name, str(parsed.specifier), parsed.extras, marker)


def _locked_entry_key(entry: dict[str, Any]) -> str:
    return _key(
        entry["name"], entry.get("specifier", ""), entry.get("extras", ()), entry.get("marker")
    )


def _project_package(lock: dict[str, Any]) -> dict[str, Any]:
    return next(p for p in lock["package"] if p["name"] == PROJECT)


def _locked_versions(lock: dict[str, Any]) -> dict[str, set[str]]:
    versions: dict[str, set[str]] = {}
    for package in lock["package"]:
        if "version" in package:
            versions.setdefault(canonicalize_name(package["name"]), set()).add(package["version"])
    return versions


def _runtime_requirements(pyproject: dict[str, Any]) -> list[Requirement]:
    project = pyproject["project"]
    extras = project.get("optional-dependencies", {})
    listed = [*project["dependencies"], *itertools.chain.from_iterable(extras.values())]
    return [Requirement(r) for r in listed]


@pytest.fixture(scope="module")
def uv() -> str:
    """The project's uv: `.tools/bin/uv`, else one on PATH (skipped locally, failed on CI)."""
    pinned = REPO_ROOT / ".tools" / "bin" / "uv"
    found = str(pinned) if pinned.is_file() else shutil.which("uv")
    if found is None:
        reason = "uv is not installed: `make install` puts it in .tools/bin"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must check the lock file")
        pytest.skip(reason)
    return found


def _run_uv(uv: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = os.environ | {"UV_OFFLINE": "1"}  # the lock check never needs the network
    return subprocess.run(
        [uv, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=environment
    )


# -- the files agree ---------------------------------------------------------------------------
def test_the_lock_records_exactly_the_dependencies_of_pyproject() -> None:
    pyproject, lock = _pyproject(), _lock()
    project = pyproject["project"]
    declared = {_requirement_key(r) for r in project["dependencies"]}
    for extra, requirements in project.get("optional-dependencies", {}).items():
        declared |= {_requirement_key(r, extra) for r in requirements}
    metadata = _project_package(lock)["metadata"]
    locked = {_locked_entry_key(e) for e in metadata["requires-dist"]}
    assert declared == locked, (
        "pyproject.toml and uv.lock disagree: run `uv lock` (.tools/bin/uv lock) and commit "
        f"uv.lock; only in pyproject: {sorted(declared - locked)}, only in uv.lock: "
        f"{sorted(locked - declared)}"
    )
    for group, requirements in pyproject["dependency-groups"].items():
        declared_group = {_requirement_key(r) for r in requirements}
        locked_group = {_locked_entry_key(e) for e in metadata["requires-dev"][group]}
        assert declared_group == locked_group, f"dependency group {group!r}: run `uv lock`"


def test_every_direct_dependency_is_locked_at_a_version_it_allows() -> None:
    pyproject, lock = _pyproject(), _lock()
    versions = _locked_versions(lock)
    requirements = [
        *_runtime_requirements(pyproject),
        *(Requirement(r) for rs in pyproject["dependency-groups"].values() for r in rs),
    ]
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        assert name in versions, f"{name} is not in uv.lock: run `uv lock`"
        assert any(requirement.specifier.contains(v, prereleases=True) for v in versions[name]), (
            f"uv.lock has {name} {sorted(versions[name])}, outside {requirement.specifier}"
        )


def test_requirements_txt_pins_the_locked_version_of_every_runtime_dependency() -> None:
    pins = dict(
        re.findall(
            r"^([A-Za-z0-9][\w.-]*)==([^\s;\\]+)",
            (REPO_ROOT / "requirements.txt").read_text(encoding="utf-8"),
            flags=re.MULTILINE,
        )
    )
    pins = {canonicalize_name(name): pinned for name, pinned in pins.items()}
    versions = _locked_versions(_lock())
    stale = {name: pinned for name, pinned in pins.items() if pinned not in versions.get(name, ())}
    assert not stale, f"requirements.txt pins versions uv.lock does not hold: {stale}"
    runtime = {canonicalize_name(r.name) for r in _runtime_requirements(_pyproject())}
    assert runtime - set(pins) == set(), "requirements.txt lacks runtime dependencies"
    assert PROJECT not in pins


def test_the_environment_runs_the_locked_versions() -> None:
    versions = _locked_versions(_lock())
    mismatched = {}
    for requirement in _runtime_requirements(_pyproject()):
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue  # not for this platform
        name = canonicalize_name(requirement.name)
        try:
            installed = version(name)
        except PackageNotFoundError:
            mismatched[name] = "not installed"
            continue
        if installed not in versions[name]:
            mismatched[name] = f"{installed} installed, uv.lock has {sorted(versions[name])}"
    assert not mismatched, f"the environment is not the locked one (`make install`): {mismatched}"


# -- uv agrees, and notices a change -----------------------------------------------------------
def test_uv_finds_the_lock_up_to_date(uv: str) -> None:
    result = _run_uv(uv, "lock", "--check", cwd=REPO_ROOT)
    assert result.returncode == 0, f"uv.lock is stale: run `uv lock`\n{result.stderr}"


def test_requirements_txt_is_the_export_of_the_lock(uv: str) -> None:
    result = _run_uv(uv, *EXPORT, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr

    def body(text: str) -> list[str]:
        # The header names the output file; everything that is not a comment must be equal.
        return [line for line in text.splitlines() if not line.lstrip().startswith("#")]

    committed = (REPO_ROOT / "requirements.txt").read_text(encoding="utf-8")
    assert body(result.stdout) == body(committed), "requirements.txt is stale: `make requirements`"


def test_uv_lock_check_fails_when_pyproject_changes_without_the_lock(
    uv: str, tmp_path: Path
) -> None:
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copyfile(REPO_ROOT / name, tmp_path / name)
    assert _run_uv(uv, "lock", "--check", cwd=tmp_path).returncode == 0
    pyproject = (tmp_path / "pyproject.toml").read_text(encoding="utf-8")
    assert '"rich>=13.9",\n' in pyproject
    (tmp_path / "pyproject.toml").write_text(pyproject.replace('"rich>=13.9",\n', ""), "utf-8")
    lock_before = (tmp_path / "uv.lock").read_bytes()

    result = _run_uv(uv, "lock", "--check", cwd=tmp_path)

    assert result.returncode != 0, "uv accepted a lock that no longer matches pyproject.toml"
    assert (tmp_path / "uv.lock").read_bytes() == lock_before
