"""``GET /dashboard`` and ``GET /dashboard/data`` through FastAPI's TestClient."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bundles import app_config
from fastapi.testclient import TestClient

from churnguard.api.app import create_app
from churnguard.api.routes.dashboard import poll_seconds
from churnguard.data.schema import FEATURE_COLUMNS, NUMERIC_FEATURES
from churnguard.monitoring.config import MonitoringConfig
from churnguard.monitoring.snapshot import (
    FeatureDriftRow,
    ModelSummary,
    MonitorSnapshot,
    QualityRow,
    RiskBin,
    TrafficPoint,
)

pytestmark = pytest.mark.unit

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def sample_snapshot() -> MonitorSnapshot:
    """A snapshot as the monitor builds it after an hour of traffic and two days of labels."""
    traffic = [
        TrafficPoint(start=NOW - timedelta(minutes=60 - i), predictions=i % 7 * 3, churn=i % 7)
        for i in range(60)
    ]
    counts = [40, 55, 61, 48, 37, 30, 22, 15, 9, 4]
    risk = [
        RiskBin(lower=i / 10, upper=(i + 1) / 10, count=count) for i, count in enumerate(counts)
    ]
    features = [
        FeatureDriftRow(
            feature=column,
            kind="numeric" if column in NUMERIC_FEATURES else "categorical",
            psi=0.45 - 0.02 * i,
            p_value=0.001 * i,
            effect=0.3 - 0.01 * i,
            drifted=i < 4,
        )
        for i, column in enumerate(FEATURE_COLUMNS)
    ]
    quality = [
        QualityRow(
            at=NOW - timedelta(days=days),
            model_version=version,
            n=220,
            roc_auc=0.82 - 0.01 * days,
            precision=0.6,
            recall=0.7,
            f1=0.64,
        )
        for version, days_ago in (("3", (2, 1)), ("4", (1, 0)))
        for days in days_ago
    ]
    return MonitorSnapshot(
        generated_at=NOW,
        model=ModelSummary(
            name="churnguard",
            version="4",
            alias="champion",
            run_id="0123abcd",
            threshold=0.4,
            loaded_at=NOW - timedelta(hours=2),
        ),
        window_rows=sum(counts),
        traffic=traffic,
        risk=risk,
        bands={"low": 204, "medium": 89, "high": 28},
        drift_status="drift",
        drift_share=4 / len(features),
        features=features,
        prediction_psi=0.12,
        quality=quality,
        labeled=880,
    )


@dataclass
class FixedMonitor:
    """A monitor whose latest snapshot is whatever the test put there."""

    snapshot: MonitorSnapshot | None = None

    def latest(self) -> MonitorSnapshot | None:
        return self.snapshot


@pytest.fixture(scope="module")
def client(
    bundle: tuple[Path, object], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    store = tmp_path_factory.mktemp("store") / "serving.db"
    with TestClient(create_app(app_config(str(bundle[0]), store))) as test_client:
        yield test_client


@pytest.fixture
def monitor(client: TestClient) -> Iterator[FixedMonitor]:
    """``app.state.monitor`` set for one test, then put back as it was."""
    state = client.app.state  # type: ignore[attr-defined]
    previous = getattr(state, "monitor", None)
    state.monitor = FixedMonitor()
    yield state.monitor
    state.monitor = previous


def test_the_page_is_self_contained_html(client: TestClient) -> None:
    response = client.get("/dashboard")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "<title>churnguard dashboard</title>" in page
    assert re.findall(r"https?://", page) == ["http://"]  # the SVG namespace, never fetched
    assert "www.w3.org/2000/svg" in page
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"(?!data:)", page)
    for chart in ("chart-traffic", "chart-risk", "chart-drift", "chart-prediction-drift"):
        assert f'data-testid="{chart}"' in page
        assert re.search(rf'id="{chart}"[^>]*role="img" aria-label="[^"]+"', page), chart


def test_the_page_carries_the_configured_thresholds(client: TestClient) -> None:
    page = client.get("/dashboard").text
    block = re.search(
        r'<script type="application/json" id="dashboard-settings">(.*?)</script>', page
    )
    assert block is not None
    settings = json.loads(block.group(1))
    monitoring = MonitoringConfig()
    assert settings == {
        "poll_seconds": poll_seconds(monitoring),
        "psi_threshold": monitoring.psi_threshold,
        "prediction_psi_threshold": monitoring.prediction_psi_threshold,
        "drift_share_threshold": monitoring.drift_share_threshold,
        "min_roc_auc": monitoring.min_roc_auc,
    }


def test_the_content_security_policy_allows_exactly_the_inline_code(client: TestClient) -> None:
    response = client.get("/dashboard")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "connect-src 'self'" in policy
    blocks = re.findall(r"<(?:script|style)>(.*?)</(?:script|style)>", response.text, re.DOTALL)
    assert len(blocks) == 2  # one style, one script
    for body in blocks:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert "unsafe-inline" not in policy


@pytest.mark.parametrize(
    ("refresh", "expected"), [(1.0, 2.0), (5.0, 5.0), (60.0, 15.0)], ids=["fast", "mid", "slow"]
)
def test_the_page_polls_within_2_to_15_seconds(refresh: float, expected: float) -> None:
    assert poll_seconds(MonitoringConfig(refresh_seconds=refresh)) == expected


def test_data_is_503_with_a_reason_without_a_monitor(client: TestClient) -> None:
    state = client.app.state  # type: ignore[attr-defined]
    previous = getattr(state, "monitor", None)
    state.monitor = None
    try:
        response = client.get("/dashboard/data")
    finally:
        state.monitor = previous
    assert response.status_code == 503
    assert "no monitor runs in this service" in response.json()["detail"]


def test_data_is_503_until_the_first_snapshot(client: TestClient, monitor: FixedMonitor) -> None:
    response = client.get("/dashboard/data")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"
    assert response.headers["retry-after"] == "60"
    detail = response.json()["detail"]
    assert "has not built its first snapshot" in detail
    assert "monitoring.refresh_seconds" in detail


def test_data_returns_the_latest_snapshot(client: TestClient, monitor: FixedMonitor) -> None:
    monitor.snapshot = sample_snapshot()
    response = client.get("/dashboard/data")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert MonitorSnapshot.model_validate(response.json()) == monitor.snapshot
    monitor.snapshot = monitor.snapshot.model_copy(update={"window_rows": 7})
    assert client.get("/dashboard/data").json()["window_rows"] == 7


def test_both_routes_are_public_and_documented(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    page = schema["paths"]["/dashboard"]["get"]
    assert page["tags"] == ["dashboard"]
    assert "text/html" in page["responses"]["200"]["content"]
    data = schema["paths"]["/dashboard/data"]["get"]
    assert data["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/MonitorSnapshot"
    }
    unavailable = data["responses"]["503"]["content"]["application/json"]["schema"]
    assert unavailable == {"$ref": "#/components/schemas/DashboardUnavailable"}
    assert "security" not in page
    assert "security" not in data
