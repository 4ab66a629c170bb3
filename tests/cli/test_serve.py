"""``churnguard serve`` and ``churnguard export``: options, and clear errors before anything starts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from churnguard.cli import main
from churnguard.cli.serve import ASGI_FACTORY

pytestmark = pytest.mark.unit


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as caught:
        main(list(args))
    captured = capsys.readouterr()
    return int(caught.value.code or 0), captured.out, captured.err


@pytest.fixture
def uvicorn_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record what ``serve`` hands to uvicorn instead of binding a port (the e2e tests bind)."""
    calls: list[dict[str, Any]] = []
    # serve sets these for the worker processes; register them so monkeypatch removes them after.
    for name in ("CHURNGUARD_CONFIG", "CHURNGUARD_SERVING_MODEL_URI", "PROMETHEUS_MULTIPROC_DIR"):
        monkeypatch.setenv(name, "unset")
        monkeypatch.delenv(name)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    return calls


def test_serve_runs_the_app_factory_with_the_options(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    uvicorn_calls: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _, err = run_cli(
        capsys,
        "serve",
        "--host",
        "127.0.0.2",
        "--port",
        "9000",
        "--workers",
        "2",
        "--model-uri",
        "models/bundle",
    )
    assert code == 0, err
    (call,) = uvicorn_calls
    assert call["app"] == ASGI_FACTORY
    assert call["factory"] is True
    assert (call["host"], call["port"], call["workers"]) == ("127.0.0.2", 9000, 2)
    assert os.environ["CHURNGUARD_SERVING_MODEL_URI"] == "models/bundle"
    assert Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).is_dir()  # several workers share metrics


def test_serve_defaults_come_from_the_configuration(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    uvicorn_calls: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHURNGUARD_SERVING_PORT", "8123")
    code, _, err = run_cli(capsys, "serve")
    assert code == 0, err
    assert (uvicorn_calls[0]["host"], uvicorn_calls[0]["port"]) == ("127.0.0.1", 8123)


def test_serve_with_an_unreadable_key_file_stops_with_a_message(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    uvicorn_calls: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHURNGUARD_SERVING_API_KEY_FILE", str(project / "missing-secret"))
    code, _, err = run_cli(capsys, "serve")
    assert code == 3
    assert "api_key_file" in err
    assert "Traceback" not in err
    assert uvicorn_calls == []


def test_serve_refuses_a_bad_port(
    project: Path, capsys: pytest.CaptureFixture[str], uvicorn_calls: list[dict[str, Any]]
) -> None:
    code, _, err = run_cli(capsys, "serve", "--port", "70000")
    assert code == 2
    assert "--port" in err
    assert "65535" in err
    assert uvicorn_calls == []


def test_export_without_a_champion_says_what_to_do(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "export", "--output", str(project / "bundle"))
    assert code == 7
    assert "no model at models:/churnguard@champion" in err
    assert "Traceback" not in err
    assert not (project / "bundle").exists()


def test_export_needs_an_alias_uri(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "export", "--model-uri", "runs:/abc/model")
    assert code == 7
    assert "models:/churnguard@champion" in err
