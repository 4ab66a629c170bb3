"""The Grafana dashboard: well-formed panels on the provisioned data source, provisioned in compose.

That every query parses and returns data is checked against a real Prometheus scraping a real
service in test_prometheus_live.py.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from promtool import (
    COMPOSE,
    DASHBOARD,
    GRAFANA_PROVISIONING,
    MONITORING,
    all_panels,
    dashboard_queries,
    data_panels,
    grafana_datasource_uid,
    load_dashboard,
    load_yaml,
    variable_queries,
)

#: Every metric family the service exports; the dashboard must show each of them.
SERVICE_METRICS = {
    "churnguard_http_requests_total",
    "churnguard_http_request_duration_seconds_bucket",
    "churnguard_http_requests_in_flight",
    "churnguard_predictions_total",
    "churnguard_churn_probability_bucket",
    "churnguard_model_loaded",
    "churnguard_model_load_seconds",
    "churnguard_model_loaded_timestamp_seconds",
    "churnguard_model_reloads_total",
    "churnguard_prediction_log_queue_depth",
    "churnguard_prediction_log_spooled_records",
    "churnguard_prediction_log_written_total",
    "churnguard_prediction_log_dropped_total",
    "churnguard_feature_drift_psi",
    "churnguard_feature_drift_detected",
    "churnguard_drift_detected",
    "churnguard_drift_share",
    "churnguard_prediction_drift_psi",
    "churnguard_drift_window_rows",
    "churnguard_model_quality",
    "churnguard_labeled_predictions",
    "churnguard_monitor_last_run_timestamp_seconds",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
}
GRID_COLUMNS = 24


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return load_dashboard()


def _panel_ids(panel: dict[str, Any]) -> str:
    return f"{panel.get('id')}:{panel.get('title')}"


@pytest.mark.unit
def test_dashboard_has_identity_and_a_recent_schema(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "churnguard-model-performance"
    assert dashboard["title"].strip()
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert "churnguard" in dashboard["tags"]


@pytest.mark.unit
def test_panel_ids_are_unique(dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in all_panels(dashboard)]
    assert all(isinstance(i, int) and i > 0 for i in ids)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


@pytest.mark.unit
def test_every_panel_has_a_grid_position_inside_the_grid(dashboard: dict[str, Any]) -> None:
    for panel in all_panels(dashboard):
        grid = panel["gridPos"]
        assert set(grid) >= {"h", "w", "x", "y"}, _panel_ids(panel)
        assert all(isinstance(grid[k], int) and grid[k] >= 0 for k in "hwxy"), _panel_ids(panel)
        assert grid["h"] > 0, _panel_ids(panel)
        assert grid["w"] > 0, _panel_ids(panel)
        assert grid["x"] + grid["w"] <= GRID_COLUMNS, _panel_ids(panel)


@pytest.mark.unit
def test_panels_do_not_overlap(dashboard: dict[str, Any]) -> None:
    def cells(panel: dict[str, Any]) -> set[tuple[int, int]]:
        g = panel["gridPos"]
        return set(
            itertools.product(range(g["x"], g["x"] + g["w"]), range(g["y"], g["y"] + g["h"]))
        )

    panels = all_panels(dashboard)
    for first, second in itertools.combinations(panels, 2):
        assert not cells(first) & cells(second), (
            f"{_panel_ids(first)} overlaps {_panel_ids(second)}"
        )


@pytest.mark.unit
def test_every_data_panel_queries_the_provisioned_prometheus(dashboard: dict[str, Any]) -> None:
    uid = grafana_datasource_uid()
    panels = data_panels(dashboard)
    assert len(panels) >= 12
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, _panel_ids(panel)
        assert panel["title"].strip(), _panel_ids(panel)
        targets = panel.get("targets", [])
        assert targets, f"{_panel_ids(panel)} has no query"
        ref_ids = [target["refId"] for target in targets]
        assert len(ref_ids) == len(set(ref_ids)), _panel_ids(panel)
        for target in targets:
            assert target.get("expr", "").strip(), f"{_panel_ids(panel)} {target['refId']}"
            assert target.get("datasource", panel["datasource"]) == panel["datasource"]


@pytest.mark.unit
def test_queries_select_the_churnguard_job_and_leave_no_variable_unresolved(
    dashboard: dict[str, Any],
) -> None:
    for query in dashboard_queries(dashboard):
        assert 'job="churnguard"' in query.expr, query
        assert "$" not in query.promql, f"unknown Grafana variable in {query}"
        assert query.promql.count("(") == query.promql.count(")"), query
        assert query.promql.count("{") == query.promql.count("}"), query
    assert variable_queries(dashboard) == ['up{job="churnguard"}']


@pytest.mark.unit
def test_the_dashboard_shows_every_metric_the_service_exports(dashboard: dict[str, Any]) -> None:
    used = {
        name
        for query in dashboard_queries(dashboard)
        for name in re.findall(r"\b(?:churnguard|process)_[a-z_]+", query.expr)
    }
    assert SERVICE_METRICS - used == set()


@pytest.mark.unit
def test_the_churn_probability_distribution_is_a_heatmap_of_the_buckets(
    dashboard: dict[str, Any],
) -> None:
    (panel,) = [p for p in data_panels(dashboard) if "churn_probability_bucket" in str(p)]
    assert panel["type"] == "heatmap"
    assert panel["targets"][0]["format"] == "heatmap"


@pytest.mark.unit
def test_grafana_provisions_the_dashboard_folder_compose_mounts() -> None:
    providers = load_yaml(GRAFANA_PROVISIONING / "dashboards" / "dashboards.yml")["providers"]
    (provider,) = providers
    assert provider["type"] == "file"
    volumes = load_yaml(COMPOSE)["services"]["grafana"]["volumes"]
    mounts = dict(v.removesuffix(":ro").split(":", 1) for v in volumes if v.startswith("./"))
    source = f"./{DASHBOARD.parent.relative_to(MONITORING.parent).as_posix()}"
    assert mounts[source] == provider["options"]["path"]
    assert mounts["./monitoring/grafana/provisioning"] == "/etc/grafana/provisioning"
