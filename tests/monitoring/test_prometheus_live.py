"""A real Prometheus scraping a real ``churnguard serve``: rules load, every query parses and returns data.

The service serves a small bundle (with its drift reference) on a free loopback port and gets
single and batch predictions, client errors, feedback labels and a model reload. Prometheus
(/usr/bin/prometheus from the Debian package) scrapes it every second with the real
``monitoring/alerts/alert_rules.yaml``. Every alerting and recording expression and every query
of the Grafana dashboard then goes through Prometheus's HTTP API: each must parse, and each
dashboard query must return at least one series. The drift and quality gauges appear once the
service's background monitor has refreshed them (every second here), so those queries are
retried for a bounded time.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from promtool import (
    ALERT_RULES,
    JOB,
    PanelQuery,
    Prometheus,
    alerting_rules,
    dashboard_queries,
    find_tool,
    load_dashboard,
    recording_rules,
    rule_groups,
    running_prometheus,
    variable_queries,
)

from churnguard.data.schema import FEATURE_COLUMNS, TARGET_COLUMN
from churnguard.data.synthetic import generate_customers
from churnguard.io import write_model_json
from churnguard.monitoring.reference import DRIFT_REFERENCE_FILE, build_drift_reference

# tests/api holds the live-server helpers; its conftest puts it on sys.path only for its tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from live import (
    API_KEY,
    Bundle,
    LiveServer,
    build_bundle,
    running_server,
    train_frame,
)

pytestmark = pytest.mark.integration

#: How long the dashboard queries may take to all return data (the monitor's first refreshes).
SERIES_TIMEOUT_SECONDS = 30.0
PROMETHEUS_START_SECONDS = 20.0
#: The service's monitor runs every second and judges from few rows and labels.
MONITORING_ENV = {
    "CHURNGUARD_MONITORING_REFRESH_SECONDS": "1",
    "CHURNGUARD_MONITORING_DRIFT_MIN_ROWS": "50",
    "CHURNGUARD_MONITORING_QUALITY_MIN_LABELS": "20",
    "CHURNGUARD_MONITORING_LOG_FLUSH_SECONDS": "0.1",
}
BATCHES = 3
BATCH_SIZE = 100


def _customers(rows: int, seed: int) -> tuple[list[dict[str, Any]], list[bool]]:
    """API records (with customerID) and their true churn labels, from the synthetic generator."""
    raw = generate_customers(rows, seed=seed)
    total = pd.to_numeric(raw["TotalCharges"], errors="coerce").fillna(0.0)
    records = raw.drop(columns=[TARGET_COLUMN]).assign(TotalCharges=total)
    return records.to_dict(orient="records"), (raw[TARGET_COLUMN] == "Yes").tolist()


def _metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b(?:churnguard|process)_[a-z_]+", expr))


def _prometheus_config(target: str) -> dict[str, Any]:
    """Scrape ``target`` as the churnguard job every second, with the real rules."""
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERT_RULES)],
        "scrape_configs": [
            {"job_name": JOB, "metrics_path": "/metrics", "static_configs": [{"targets": [target]}]}
        ],
    }


def _wait_for(prometheus: Prometheus, expr: str, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while prometheus.series_count(expr) == 0:
        if time.monotonic() > deadline:
            pytest.fail(
                f"{what}: `{expr}` returned nothing within {timeout} s:\n{prometheus.tail()}"
            )
        time.sleep(0.25)


def _send_traffic(server: LiveServer) -> None:
    """Single and batch predictions, client errors, feedback labels and a model reload."""
    records, labels = _customers(BATCHES * BATCH_SIZE, seed=11)
    with server.client() as http:
        for record in records[:20]:
            assert http.post("/predict", json=record).status_code == 200
        assert http.post("/predict?explain=true", json=records[0]).status_code == 200
        for start in range(0, len(records), BATCH_SIZE):
            batch = {"records": records[start : start + BATCH_SIZE]}
            assert http.post("/predict/batch", json=batch).status_code == 200
        assert http.post("/predict", json=records[0] | {"SeniorCitizen": 2}).status_code == 422
        assert http.get("/no-such-route").status_code == 404
        feedback = {
            "labels": [
                {"customerID": record["customerID"], "churn": churn}
                for record, churn in zip(records, labels, strict=True)
            ]
        }
        assert http.post("/feedback", json=feedback).status_code == 401
        key = {"X-API-Key": API_KEY}
        assert http.post("/feedback", json=feedback, headers=key).status_code == 200
        assert http.post("/admin/reload", headers=key).status_code == 200


def _exposed_metrics(server: LiveServer) -> set[str]:
    """The sample names the service's own /metrics shows now."""
    with server.client() as http:
        text = http.get("/metrics").text
    return {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prometheus_binary() -> Path:
    binary = find_tool("prometheus")
    if binary is None:
        pytest.skip(
            "prometheus is not installed: install the Debian package `prometheus` "
            "(apt-get install prometheus; .ci/run does it in CI)"
        )
    return binary


@pytest.fixture(scope="module")
def model_bundle(prometheus_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """A small bundle with the drift reference training would write beside the model."""
    bundle = build_bundle(tmp_path_factory.mktemp("bundle") / "model", train_frame())
    features = bundle.train[list(FEATURE_COLUMNS)]
    reference = build_drift_reference(features, bundle.model.predict_proba(features)[:, 1])
    write_model_json(bundle.path / DRIFT_REFERENCE_FILE, reference)
    return bundle


@pytest.fixture(scope="module")
def server(model_bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("server")
    with running_server(str(model_bundle.path), workdir, MONITORING_ENV) as live:
        yield live


@pytest.fixture(scope="module")
def prometheus(
    prometheus_binary: Path, server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    """Prometheus scraping the service, after the traffic, with a few scrapes of it done."""
    target = server.base_url.removeprefix("http://")
    workdir = tmp_path_factory.mktemp("prometheus")
    config = _prometheus_config(target)
    with running_prometheus(
        prometheus_binary, config, workdir, PROMETHEUS_START_SECONDS
    ) as running:
        _wait_for(running, f'up{{job="{JOB}"}} == 1', "the first successful scrape")
        _send_traffic(server)
        # The whole traffic scraped, and enough samples for rates over it.
        _wait_for(
            running,
            f'sum(churnguard_predictions_total{{job="{JOB}"}}) >= {BATCHES * BATCH_SIZE + 20}',
            "the traffic in Prometheus",
        )
        _wait_for(running, f'count_over_time(up{{job="{JOB}"}}[1m]) >= 4', "a few scrapes")
        yield running


# -- tests ---------------------------------------------------------------------------------------


def test_prometheus_loads_every_rule_group_and_evaluates_it_without_error(
    prometheus: Prometheus,
) -> None:
    expected = {group["name"]: len(group["rules"]) for group in rule_groups()}
    deadline = time.monotonic() + 15.0
    while True:
        status, body = prometheus.api("rules")
        assert status == 200, body
        groups = body["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        if all(rule.get("health") == "ok" for rule in rules) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert {group["name"]: len(group["rules"]) for group in groups} == expected
    unhealthy = {rule["name"]: rule.get("lastError") for rule in rules if rule["health"] != "ok"}
    assert not unhealthy, f"rules that failed to evaluate: {unhealthy}"


def test_a_healthy_service_raises_no_availability_alert(prometheus: Prometheus) -> None:
    _, body = prometheus.api("rules", type="alert")
    state = {
        rule["name"]: rule["state"] for group in body["data"]["groups"] for rule in group["rules"]
    }
    # ChurnguardNoPredictions is legitimately pending here: it was true before the first
    # prediction, and a counter that appears with its whole value shows no increase yet.
    quiet = {
        "ChurnguardServiceDown",
        "ChurnguardModelNotLoaded",
        "ChurnguardHighErrorRate",
        "ChurnguardPredictionLogDropping",
        "ChurnguardModelReloadRefused",
    }
    assert {name: state[name] for name in quiet} == dict.fromkeys(quiet, "inactive")


def test_prometheus_refuses_an_expression_that_does_not_parse(prometheus: Prometheus) -> None:
    # What the two tests below rely on to tell a parse error from an empty result.
    status, body = prometheus.query("sum(rate(churnguard_http_requests_total[1m])")
    assert (status, body["status"], body["errorType"]) == (400, "error", "bad_data")


def test_every_rule_expression_parses(prometheus: Prometheus) -> None:
    exprs = [rule["expr"] for rule in alerting_rules() + recording_rules()]
    failed = {}
    for expr in exprs:
        status, body = prometheus.query(expr)
        if status != 200 or body.get("status") != "success":
            failed[expr] = body.get("error", body)
    assert not failed, f"expressions Prometheus refused: {failed}"


def test_every_dashboard_query_parses_and_returns_data(
    prometheus: Prometheus, server: LiveServer
) -> None:
    queries = dashboard_queries(load_dashboard())
    refused: dict[str, Any] = {}
    for query in queries:
        status, body = prometheus.query(query.promql)
        if status != 200 or body.get("status") != "success":
            refused[str(query)] = body.get("error", body)
    assert not refused, f"dashboard queries Prometheus refused: {refused}"

    empty: list[PanelQuery] = list(queries)
    deadline = time.monotonic() + SERIES_TIMEOUT_SECONDS
    while empty and time.monotonic() < deadline:
        empty = [query for query in empty if prometheus.series_count(query.promql) == 0]
        if empty:
            time.sleep(1.0)
    if empty:
        exposed = _exposed_metrics(server)
        lines = []
        for query in empty:
            missing = sorted(_metric_names(query.promql) - exposed)
            why = f"not in the service's /metrics: {missing}" if missing else "no series"
            lines.append(f"  {query}\n    -> {why}")
        pytest.fail(
            f"{len(empty)} dashboard queries returned nothing after {SERIES_TIMEOUT_SECONDS} s "
            "(drift and quality gauges come from the service's background monitor):\n"
            + "\n".join(lines)
        )


def test_the_dashboard_variable_finds_the_service(prometheus: Prometheus) -> None:
    for selector in variable_queries(load_dashboard()):
        assert prometheus.series_count(selector) == 1, selector
