from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from bundles import app_config, make_bundle
from fastapi.testclient import TestClient

from churnguard.api.app import create_app
from churnguard.api.schemas import EXAMPLE_CUSTOMER

pytestmark = pytest.mark.unit


def _ready_within(client: TestClient, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if client.get("/ready").status_code == 200:
            return True
        time.sleep(0.1)
    return False


def test_a_service_started_without_a_model_loads_it_once_it_exists(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bundle = tmp_path / "bundle"
    config = app_config(str(bundle), tmp_path / "serving.db", load_retry_seconds=0.5)
    with TestClient(create_app(config)) as client, caplog.at_level(logging.INFO):
        assert client.get("/ready").status_code == 503
        assert client.post("/predict", json=EXAMPLE_CUSTOMER).status_code == 503
        make_bundle(bundle)  # e.g. the first model exported after the service started
        assert _ready_within(client, 20), client.get("/ready").json()
        assert client.post("/predict", json=EXAMPLE_CUSTOMER).status_code == 200
        metrics = client.get("/metrics").text
        assert "churnguard_model_loaded 1.0" in metrics
        assert client.app.state.retrier.attempts >= 1  # type: ignore[attr-defined]
    assert any(r.getMessage() == "model loaded on retry" for r in caplog.records)


def test_retries_can_be_turned_off(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    config = app_config(str(bundle), tmp_path / "serving.db", load_retry_seconds=0)
    with TestClient(create_app(config)) as client:
        make_bundle(bundle)
        assert not _ready_within(client, 2.5)
        assert client.app.state.retrier.attempts == 0  # type: ignore[attr-defined]
        # The operator's way in: an explicit reload (disabled without an API key: 403).
        assert client.post("/admin/reload").status_code == 403
