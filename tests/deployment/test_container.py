"""The container deployment: the image really built and run, and the compose stack's wiring."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "docker_test.sh"
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
#: A cold run bootstraps Debian and downloads every wheel (about 2.5 min here); warm, ~30 s.
BUILD_AND_RUN_SECONDS = 1800


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return compose


@pytest.mark.integration
@pytest.mark.timeout(BUILD_AND_RUN_SECONDS + 60)
def test_image_builds_and_serves_the_example_prediction() -> None:
    problems = []
    missing = [tool for tool in ("buildah", "mmdebstrap") if shutil.which(tool) is None]
    if missing:
        problems.append(f"{', '.join(missing)} not installed (apt-get install buildah mmdebstrap)")
    if os.geteuid() != 0:
        problems.append("not root (buildah's chroot isolation and mmdebstrap need root)")
    if problems:
        reason = "cannot build the image: " + "; ".join(problems)
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must provide them (.ci/run installs the tools)")
        pytest.skip(reason)

    result = subprocess.run(
        ["bash", str(SCRIPT)],
        cwd=REPO_ROOT,
        env=os.environ | {"PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=BUILD_AND_RUN_SECONDS,
        check=False,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "docker-test: /predict 7590-VHVEG: churn_probability=" in result.stdout, output
    assert "docker-test: OK: image" in result.stdout, output


@pytest.mark.unit
def test_every_compose_service_has_a_health_check_and_waits_for_healthy_dependencies() -> None:
    services = _compose()["services"]
    assert set(services) == {"api", "mlflow", "postgres", "prometheus", "grafana"}
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, (name, dependency)
            assert condition == {"condition": "service_healthy"}, (name, dependency)
    assert set(services["api"]["depends_on"]) == {"mlflow", "postgres"}
    assert set(services["mlflow"]["depends_on"]) == {"postgres"}


@pytest.mark.unit
def test_compose_api_is_built_from_the_deployment_dockerfile_and_uses_the_registry_server() -> None:
    compose = _compose()
    api = compose["services"]["api"]
    assert api["build"] == {"context": ".", "dockerfile": "deployment/Dockerfile"}
    assert api["environment"]["CHURNGUARD_MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    mlflow = compose["services"]["mlflow"]
    assert "--workers=1" in mlflow["command"]
    assert mlflow["environment"]["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert mlflow["environment"]["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg://")


@pytest.mark.unit
def test_env_example_lists_every_variable_the_compose_file_reads() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    # ${NAME}, ${NAME:-default}, ${NAME:?message}; $${NAME} is the container's, not compose's.
    interpolated = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", text))
    secret_sources = {
        secret["environment"]
        for secret in _compose()["secrets"].values()
        if "environment" in secret
    }
    listed = set(re.findall(r"^#?\s*([A-Z_][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    assert interpolated, "no variables found: the pattern is wrong"
    assert (interpolated | secret_sources) - listed == set()


@pytest.mark.unit
def test_env_example_holds_placeholders_not_secrets() -> None:
    values = dict(
        re.findall(r"^([A-Z_][A-Z0-9_]*(?:PASSWORD|API_KEY))=(.*)$", ENV_EXAMPLE.read_text(), re.M)
    )
    assert set(values) >= {
        "POSTGRES_PASSWORD",
        "GRAFANA_ADMIN_PASSWORD",
        "CHURNGUARD_SERVING_API_KEY",
    }
    assert all(value.startswith("change-me") for value in values.values()), values


@pytest.mark.unit
def test_prometheus_scrapes_the_api_and_grafana_reads_prometheus() -> None:
    prometheus = yaml.safe_load((REPO_ROOT / "monitoring" / "prometheus.yml").read_text())
    api_jobs = [
        job
        for job in prometheus["scrape_configs"]
        if any("api:8000" in group["targets"] for group in job["static_configs"])
    ]
    assert len(api_jobs) == 1
    assert api_jobs[0].get("metrics_path", "/metrics") == "/metrics"
    datasources = yaml.safe_load(
        (
            REPO_ROOT / "monitoring" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
        ).read_text()
    )["datasources"]
    assert [(d["type"], d["url"]) for d in datasources] == [
        ("prometheus", "http://prometheus:9090")
    ]
