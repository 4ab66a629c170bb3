"""The Prometheus configuration and alert rules: promtool checks and unit tests, runbook coverage.

``promtool`` comes with the Debian package ``prometheus`` (.ci/run installs it); without it the
promtool tests are skipped, the structural ones still run.
"""

from __future__ import annotations

import re
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml
from promtool import (
    ALERT_RULES,
    ALERT_RULES_TEST,
    COMPOSE,
    JOB,
    MONITORING,
    PROMETHEUS_CONFIG,
    RUNBOOK,
    alert_test_cases,
    alerting_rules,
    find_tool,
    load_yaml,
    recording_rules,
    rule_groups,
    run_promtool,
    runbook_alert_sections,
    runbook_anchors,
)

SEVERITIES = {"critical", "warning"}
#: Every condition the monitoring spec asks an alert for, by the alert that covers it.
REQUIRED_ALERTS = {
    "ChurnguardServiceDown",
    "ChurnguardHighErrorRate",
    "ChurnguardPredictLatencyHigh",
    "ChurnguardDataDrift",
    "ChurnguardPredictionDrift",
    "ChurnguardModelQualityDrop",
    "ChurnguardNoPredictions",
    "ChurnguardPredictionLogBacklog",
    "ChurnguardPredictionLogSpooling",
    "ChurnguardPredictionLogDropping",
    "ChurnguardModelStale",
    "ChurnguardModelNotLoaded",
}


@pytest.fixture(scope="module")
def promtool() -> Path:
    tool = find_tool("promtool")
    if tool is None:
        pytest.skip(
            "promtool is not installed: install the Debian package `prometheus` "
            "(apt-get install prometheus; .ci/run does it in CI)"
        )
    return tool


def _failed_alerts(output: str) -> set[str]:
    """The alert names promtool test rules reports a failed expectation for."""
    return set(re.findall(r"alertname: (\w+), time:", output))


def _write_mutant(tmp_path: Path, expr: str, duration: str | None = None) -> Path:
    """The rules and their tests in ``tmp_path``, every alert's expr (and ``for``) replaced."""
    document: dict[str, Any] = load_yaml(ALERT_RULES)
    for group in document["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                rule["expr"] = expr
                if duration is not None:
                    rule["for"] = duration
    (tmp_path / ALERT_RULES.name).write_text(yaml.safe_dump(document), encoding="utf-8")
    shutil.copy(ALERT_RULES_TEST, tmp_path / ALERT_RULES_TEST.name)
    return tmp_path / ALERT_RULES_TEST.name


# -- promtool ------------------------------------------------------------------------------------


@pytest.mark.integration
def test_prometheus_config_passes_promtool_check_config(promtool: Path) -> None:
    result = run_promtool(promtool, "check", "config", PROMETHEUS_CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr
    # The config loads the rule file (promtool checks it as part of the config).
    assert "1 rule files found" in result.stdout + result.stderr


@pytest.mark.integration
def test_alert_rules_pass_promtool_check_rules(promtool: Path) -> None:
    result = run_promtool(promtool, "check", "rules", ALERT_RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    count = len(alerting_rules()) + len(recording_rules())
    assert f"SUCCESS: {count} rules found" in result.stdout


@pytest.mark.integration
def test_alert_rule_unit_tests_pass(promtool: Path) -> None:
    result = run_promtool(promtool, "test", "rules", ALERT_RULES_TEST)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.integration
def test_the_unit_tests_catch_alerts_that_never_fire(promtool: Path, tmp_path: Path) -> None:
    mutant = _write_mutant(tmp_path, "vector(1) == 0")
    result = run_promtool(promtool, "test", "rules", mutant)
    assert result.returncode != 0
    assert _failed_alerts(result.stdout + result.stderr) == {r["alert"] for r in alerting_rules()}


@pytest.mark.integration
def test_the_unit_tests_catch_alerts_that_always_fire(promtool: Path, tmp_path: Path) -> None:
    mutant = _write_mutant(tmp_path, 'up{job="churnguard"} >= 0 or vector(1)', duration="0s")
    result = run_promtool(promtool, "test", "rules", mutant)
    assert result.returncode != 0
    assert _failed_alerts(result.stdout + result.stderr) == {r["alert"] for r in alerting_rules()}


# -- structure -----------------------------------------------------------------------------------


@pytest.mark.unit
def test_prometheus_scrapes_the_churnguard_job_and_loads_the_alert_rules() -> None:
    config = load_yaml(PROMETHEUS_CONFIG)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert JOB in jobs
    assert jobs[JOB].get("metrics_path", "/metrics") == "/metrics"
    rule_files = [(PROMETHEUS_CONFIG.parent / name).resolve() for name in config["rule_files"]]
    assert rule_files == [ALERT_RULES.resolve()]


@pytest.mark.unit
def test_prometheus_in_compose_gets_its_rule_files() -> None:
    volumes = load_yaml(COMPOSE)["services"]["prometheus"]["volumes"]
    mounts = dict(v.removesuffix(":ro").split(":", 1) for v in volumes if v.startswith("./"))
    config_dir = mounts["./monitoring/prometheus.yml"].rsplit("/", 1)[0]
    rule_files = load_yaml(MONITORING / "prometheus.yml")["rule_files"]
    for rule_file in rule_files:
        folder, name = rule_file.rsplit("/", 1)
        assert mounts[f"./monitoring/{folder}"] == f"{config_dir}/{folder}"
        assert (MONITORING / folder / name).is_file()


@pytest.mark.unit
def test_the_spec_conditions_all_have_an_alert() -> None:
    names = [rule["alert"] for rule in alerting_rules()]
    assert len(names) == len(set(names)), "alert names must be unique"
    assert set(names) >= REQUIRED_ALERTS


@pytest.mark.unit
@pytest.mark.parametrize("rule", alerting_rules(), ids=lambda rule: rule["alert"])
def test_every_alert_has_for_severity_and_annotations(rule: dict[str, Any]) -> None:
    assert re.fullmatch(r"\d+[smhd]", str(rule.get("for", ""))), "give every alert a for:"
    assert rule["labels"]["severity"] in SEVERITIES
    annotations = rule["annotations"]
    assert annotations["summary"].strip()
    assert annotations["description"].strip()
    assert annotations["runbook_url"] == f"docs/runbook.md#{rule['alert'].lower()}"


@pytest.mark.unit
def test_recording_rules_follow_the_level_metric_operations_naming() -> None:
    for rule in recording_rules():
        assert re.fullmatch(r"[a-z_]+:[a-z_0-9]+(:[a-z_0-9]+)?", rule["record"]), rule["record"]


@pytest.mark.unit
def test_every_alert_has_a_runbook_section() -> None:
    anchors = runbook_anchors()
    missing = [
        rule["alert"]
        for rule in alerting_rules()
        if rule["annotations"]["runbook_url"].partition("#")[2] not in anchors
    ]
    assert not missing, f"no section in {RUNBOOK.name} for {missing}"


@pytest.mark.unit
def test_the_runbook_has_no_section_for_an_alert_that_does_not_exist() -> None:
    sections = runbook_alert_sections()
    assert sorted(sections) == sorted(rule["alert"] for rule in alerting_rules())


@pytest.mark.unit
def test_every_alert_is_tested_firing_and_quiet() -> None:
    outcomes: dict[str, set[bool]] = defaultdict(set)
    for _, alert, fires in alert_test_cases():
        outcomes[alert].add(fires)
    names = {rule["alert"] for rule in alerting_rules()}
    assert set(outcomes) <= names, f"tests of unknown alerts: {set(outcomes) - names}"
    untested = {name: sorted(outcomes[name]) for name in names if outcomes[name] != {True, False}}
    assert not untested, f"alerts without a firing and a quiet case: {untested}"


@pytest.mark.unit
def test_every_rule_group_has_a_unique_name() -> None:
    names = [group["name"] for group in rule_groups()]
    assert len(names) == len(set(names))
