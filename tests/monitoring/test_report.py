"""The monitoring report: alarms, the JSON twin and the self-contained HTML file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from churnguard.monitoring.config import MonitoringConfig
from churnguard.monitoring.monitor import assess
from churnguard.monitoring.reference import read_drift_reference
from churnguard.monitoring.report import MonitoringReport, alarms, build_report, render_html
from churnguard.monitoring.store import MonitoringStore

pytestmark = pytest.mark.unit

CONFIG = MonitoringConfig(quality_min_labels=50)


@pytest.fixture(scope="module")
def report(monitored_traffic: tuple[str, Path]) -> MonitoringReport:
    url, reference_path = monitored_traffic
    assessment = assess(MonitoringStore(url), read_drift_reference(reference_path), CONFIG)
    return build_report(assessment, CONFIG, "sqlite:///store.db")


def test_the_report_names_the_alarms(report: MonitoringReport) -> None:
    assert report.window_rows == 400
    assert report.model_versions == ["1"]
    assert report.window_start is not None
    assert report.window_end is not None
    assert report.window_start < report.window_end
    assert any(a.startswith("data drift:") and "MonthlyCharges" in a for a in report.alarms)


def test_a_quality_drop_is_an_alarm(report: MonitoringReport) -> None:
    strict = MonitoringConfig(min_roc_auc=0.99, quality_min_labels=50)
    found = alarms(None, report.quality, strict)
    assert len(found) == 1
    assert found[0].startswith("quality drop: model version 1")
    assert alarms(None, report.quality, MonitoringConfig(min_roc_auc=0.1)) == []


def test_the_json_twin_round_trips(report: MonitoringReport) -> None:
    assert MonitoringReport.model_validate_json(report.model_dump_json()) == report


def test_the_html_is_self_contained_with_every_plot(report: MonitoringReport) -> None:
    page = render_html(report, CONFIG)
    assert page.startswith("<!doctype html>")
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', page)
    # PSI bars, per-feature histograms, probability distribution, quality over time.
    assert len(images) == 4, images
    assert not re.search(r'(src|href)="https?://', page)
    assert "Alarms" in page
    assert "MonthlyCharges" in page


def test_miscalibration_is_an_alarm_of_its_own(report: MonitoringReport) -> None:
    strict = MonitoringConfig(max_calibration_error=0.001, min_roc_auc=0.1, quality_min_labels=50)
    (found,) = alarms(None, report.quality, strict)
    assert found.startswith("calibration drift: model version 1")
    assert "observed churn rate" in found
