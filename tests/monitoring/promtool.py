"""Helpers of the monitoring-configuration tests: promtool, a Prometheus process, rules, dashboard.

The files under test live in ``monitoring/`` (Prometheus configuration, alert rules and their
promtool unit tests, the Grafana dashboard and its provisioning) and ``docs/runbook.md``.
Prometheus runs as a subprocess in its own process group on a free loopback port, with its
storage in the test's temporary folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
MONITORING = REPO_ROOT / "monitoring"
PROMETHEUS_CONFIG = MONITORING / "prometheus.yml"
ALERT_RULES = MONITORING / "alerts" / "alert_rules.yaml"
ALERT_RULES_TEST = MONITORING / "alerts" / "alert_rules_test.yaml"
DASHBOARD = MONITORING / "dashboards" / "model_performance.json"
GRAFANA_PROVISIONING = MONITORING / "grafana" / "provisioning"
RUNBOOK = REPO_ROOT / "docs" / "runbook.md"
COMPOSE = REPO_ROOT / "docker-compose.yml"
#: The scrape job of the prediction service; the rules select it by name.
JOB = "churnguard"

#: Grafana's built-in variables and the dashboard's own, as a plain Prometheus query needs them.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "5m",
    "${instance}": ".*",
    "$instance": ".*",
}


def find_tool(name: str) -> Path | None:
    """``name`` on PATH or in /usr/bin (the Debian packages put Prometheus's tools there)."""
    found = shutil.which(name) or shutil.which(name, path="/usr/bin")
    return Path(found) if found else None


def run_promtool(promtool: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run ``promtool args`` from the repository root and capture its output."""
    return subprocess.run(
        [str(promtool), *map(str, args)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@dataclass
class Prometheus:
    """A running Prometheus process and its HTTP API."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def tail(self, chars: int = 4000) -> str:
        """The end of Prometheus's output, for failure messages."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]

    def api(self, path: str, **params: str) -> tuple[int, dict[str, Any]]:
        """The HTTP status and JSON body of ``GET /api/v1/<path>``."""
        with httpx.Client(base_url=self.base_url, trust_env=False, timeout=10.0) as http:
            response = http.get(f"/api/v1/{path}", params=params)
        return response.status_code, response.json()

    def query(self, expr: str) -> tuple[int, dict[str, Any]]:
        """An instant query: HTTP status and body (400 with ``errorType: bad_data`` = no parse)."""
        return self.api("query", query=expr)

    def series_count(self, expr: str) -> int:
        """How many series (or 1 for a scalar) the instant query ``expr`` returns now."""
        status, body = self.query(expr)
        assert status == 200, f"{expr}: {body}"
        data = body["data"]
        return 1 if data["resultType"] == "scalar" else len(data["result"])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its own group: only what the test started
        process.wait(timeout=10)


def _wait_until_ready(prometheus: Prometheus, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=prometheus.base_url, trust_env=False, timeout=2.0) as http:
        while time.monotonic() < deadline:
            if prometheus.process.poll() is not None:
                pytest.fail(f"prometheus exited early:\n{prometheus.tail()}")
            with contextlib.suppress(httpx.TransportError):
                if http.get("/-/ready").status_code == 200:
                    return
            time.sleep(0.1)
    pytest.fail(f"prometheus was not ready within {timeout} s:\n{prometheus.tail()}")


@contextlib.contextmanager
def running_prometheus(
    binary: Path, config: Mapping[str, Any], workdir: Path, timeout: float = 20.0
) -> Iterator[Prometheus]:
    """Run Prometheus with ``config`` on a free loopback port until the block ends.

    Args:
        binary: The ``prometheus`` executable.
        config: The configuration (written to ``workdir/prometheus.yml``).
        workdir: Holds the configuration, the TSDB and the process's output.
        timeout: Seconds to wait for ``/-/ready``.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(dict(config)), encoding="utf-8")
    port = _free_port()
    log_path = workdir / "prometheus.log"
    command = [
        str(binary),
        f"--config.file={config_path}",
        f"--storage.tsdb.path={workdir / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    prometheus = Prometheus(process, f"http://127.0.0.1:{port}", log_path)
    try:
        _wait_until_ready(prometheus, timeout)
        yield prometheus
    finally:
        _stop(process)


def load_yaml(path: Path) -> Any:
    """The parsed YAML file at ``path``."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rule_groups(path: Path = ALERT_RULES) -> list[dict[str, Any]]:
    """The rule groups of a Prometheus rule file."""
    groups: list[dict[str, Any]] = load_yaml(path)["groups"]
    return groups


def alerting_rules(path: Path = ALERT_RULES) -> list[dict[str, Any]]:
    """Every alerting rule (``alert:``) of the rule file, in file order."""
    return [rule for group in rule_groups(path) for rule in group["rules"] if "alert" in rule]


def recording_rules(path: Path = ALERT_RULES) -> list[dict[str, Any]]:
    """Every recording rule (``record:``) of the rule file, in file order."""
    return [rule for group in rule_groups(path) for rule in group["rules"] if "record" in rule]


def alert_test_cases(path: Path = ALERT_RULES_TEST) -> Iterator[tuple[str, str, bool]]:
    """``(test name, alert name, fires)`` of every ``alert_rule_test`` of the promtool tests."""
    for test in load_yaml(path)["tests"]:
        for case in test.get("alert_rule_test", []):
            yield test.get("name", "?"), case["alertname"], bool(case.get("exp_alerts"))


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading (lower case, punctuation gone, - for spaces)."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def runbook_anchors(path: Path = RUNBOOK) -> set[str]:
    """The anchors of every heading of the runbook, and its explicit ``<a id="...">`` ones."""
    text = path.read_text(encoding="utf-8")
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, flags=re.MULTILINE)
    explicit = re.findall(r'<a\s+(?:id|name)="([^"]+)"', text)
    return {github_anchor(heading) for heading in headings} | set(explicit)


def runbook_alert_sections(path: Path = RUNBOOK) -> list[str]:
    """The headings of the runbook that name an alert (``### Churnguard...``)."""
    text = path.read_text(encoding="utf-8")
    return re.findall(r"^###\s+(Churnguard\w+)\s*$", text, flags=re.MULTILINE)


@dataclass(frozen=True)
class PanelQuery:
    """One query of a dashboard panel."""

    panel_id: int
    panel_title: str
    ref_id: str
    expr: str

    @property
    def promql(self) -> str:
        """The expression with Grafana's variables replaced, as Prometheus's API takes it."""
        return grafana_to_promql(self.expr)

    def __str__(self) -> str:
        return f"panel {self.panel_id} {self.panel_title!r} query {self.ref_id}: {self.promql}"


def grafana_to_promql(expr: str) -> str:
    """``expr`` with the dashboard's variables replaced by values a plain query accepts.

    Longer names first, so ``$__interval`` never eats the start of ``$__rate_interval``.
    """
    for name in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, GRAFANA_VARIABLES[name])
    return expr


def load_dashboard(path: Path = DASHBOARD) -> dict[str, Any]:
    """The dashboard JSON."""
    dashboard: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return dashboard


def all_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, rows included, with the panels of collapsed rows."""
    panels: list[dict[str, Any]] = []
    for panel in dashboard.get("panels", []):
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def data_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """The panels that show data (every panel but rows)."""
    return [panel for panel in all_panels(dashboard) if panel.get("type") != "row"]


def dashboard_queries(dashboard: dict[str, Any]) -> list[PanelQuery]:
    """Every query of every data panel."""
    return [
        PanelQuery(panel["id"], panel.get("title", ""), target.get("refId", "?"), target["expr"])
        for panel in data_panels(dashboard)
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def variable_queries(dashboard: dict[str, Any]) -> list[str]:
    """The series selectors of the dashboard's ``label_values(selector, label)`` variables."""
    selectors = []
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        match = re.fullmatch(r"\s*label_values\((.+),\s*\w+\)\s*", text)
        if match:
            selectors.append(match.group(1))
    return selectors


def grafana_datasource_uid() -> str:
    """The uid of the Prometheus data source Grafana is provisioned with."""
    config = load_yaml(GRAFANA_PROVISIONING / "datasources" / "prometheus.yml")
    (source,) = [s for s in config["datasources"] if s["type"] == "prometheus"]
    uid: str = source["uid"]
    return uid


__all__ = [
    "ALERT_RULES",
    "ALERT_RULES_TEST",
    "COMPOSE",
    "DASHBOARD",
    "GRAFANA_PROVISIONING",
    "JOB",
    "MONITORING",
    "PROMETHEUS_CONFIG",
    "REPO_ROOT",
    "RUNBOOK",
    "PanelQuery",
    "Prometheus",
    "alert_test_cases",
    "alerting_rules",
    "all_panels",
    "dashboard_queries",
    "data_panels",
    "find_tool",
    "github_anchor",
    "grafana_datasource_uid",
    "grafana_to_promql",
    "load_dashboard",
    "load_yaml",
    "recording_rules",
    "rule_groups",
    "run_promtool",
    "runbook_alert_sections",
    "runbook_anchors",
    "running_prometheus",
    "variable_queries",
]
