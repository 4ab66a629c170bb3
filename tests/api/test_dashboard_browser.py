"""The ``/dashboard`` page in headless Chromium (Debian's ``chromium``, driven by Playwright).

The main test runs a real ``churnguard serve`` on loopback with a one-second monitor refresh,
sends it 300 predictions from the synthetic generator (half of them from a drifted population)
and their labels, waits for the monitor's snapshot to hold them, then opens the page: every
chart must draw the live data, the page must log no console error, and a screenshot is saved to
``reports/test-artifacts/dashboard.png``. A second test serves the app in-process with a monitor
that has no snapshot yet, checks the page's "no data yet" state, then hands the monitor a
snapshot and checks the page draws it on its next poll, without a reload.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import uvicorn
from bundles import app_config
from live import API_KEY, Bundle, LiveServer, build_bundle, free_port, running_server, train_frame
from test_dashboard import FixedMonitor, sample_snapshot

from churnguard.api.app import create_app
from churnguard.data.drift import DriftSpec
from churnguard.data.preprocess import coerce_types
from churnguard.data.schema import FEATURE_COLUMNS, ID_COLUMN, TARGET_COLUMN
from churnguard.data.synthetic import generate_customers
from churnguard.io import atomic_path, write_model_json
from churnguard.monitoring.reference import DRIFT_REFERENCE_FILE, build_drift_reference

try:
    from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    pytest.skip(
        "the playwright package is not installed: install the dev dependencies (uv sync)",
        allow_module_level=True,
    )

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():  # pragma: no cover - depends on the environment
    pytest.skip(
        f"{CHROMIUM} is missing: install Debian's browser with `apt-get install chromium`",
        allow_module_level=True,
    )

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[2] / "reports" / "test-artifacts"
#: Every element the page marks with ``data-rendered`` once it has drawn data.
CHARTS = (
    "model-card",
    "chart-traffic",
    "chart-risk",
    "chart-prediction-drift",
    "chart-quality",
    "chart-drift",
)
ALL_RENDERED = """(ids) => ids.every((id) => {
  const node = document.querySelector(`[data-testid="${id}"]`);
  return node && node.dataset.rendered === "true" && Number(node.dataset.points) > 0;
})"""
#: How long the monitor may take to show the traffic (it refreshes every second here).
DATA_TIMEOUT_SECONDS = 30.0
RENDER_TIMEOUT_MS = 15_000
#: A population unlike the training data: mostly month-to-month contracts, dearer plans.
DRIFT = DriftSpec(
    numeric_shift={"MonthlyCharges": 1.4},
    category_mix={"Contract": {"Month-to-month": 0.9, "One year": 0.05, "Two year": 0.05}},
)
SINGLE, BATCHES, BATCH_SIZE = 200, 4, 25


@dataclass(frozen=True)
class Traffic:
    """What the test sent the live service."""

    predictions: int
    labels: int


@dataclass
class BrowserLog:
    """Console messages and uncaught errors of one page."""

    console: list[ConsoleMessage]
    errors: list[str]

    def console_errors(self) -> list[str]:
        return [f"{m.text} ({m.location.get('url')})" for m in self.console if m.type == "error"]


def _customers(rows: int, seed: int, drift: DriftSpec | None = None) -> pd.DataFrame:
    return coerce_types(generate_customers(rows, seed=seed, drift=drift))


def _write_drift_reference(bundle: Bundle) -> None:
    """Give the bundle the drift reference training would log (unless it already has one)."""
    path = bundle.path / DRIFT_REFERENCE_FILE
    if path.exists():
        return
    held_out = _customers(1000, seed=43)[list(FEATURE_COLUMNS)]
    probabilities = bundle.model.predict_proba(held_out)[:, 1]
    write_model_json(path, build_drift_reference(bundle.train, probabilities))


@pytest.fixture(scope="module")
def served_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    bundle = build_bundle(tmp_path_factory.mktemp("bundle") / "model", train_frame())
    _write_drift_reference(bundle)
    return bundle


@pytest.fixture(scope="module")
def server(served_bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {"CHURNGUARD_MONITORING_REFRESH_SECONDS": "1"}
    workdir = tmp_path_factory.mktemp("server")
    with running_server(str(served_bundle.path), workdir, env) as live:
        yield live


@pytest.fixture(scope="module")
def traffic(server: LiveServer) -> Traffic:
    """300 predictions (single and batch, half of them drifted) and a label for each."""
    frame = pd.concat([_customers(150, seed=101), _customers(150, seed=102, drift=DRIFT)])
    frame[ID_COLUMN] = [f"dash-{i:04d}" for i in range(len(frame))]
    records: list[dict[str, Any]] = frame[[ID_COLUMN, *FEATURE_COLUMNS]].to_dict("records")
    with server.client() as http:
        for record in records[:SINGLE]:
            response = http.post("/predict", json=record)
            assert response.status_code == 200, response.text
        for start in range(SINGLE, SINGLE + BATCHES * BATCH_SIZE, BATCH_SIZE):
            batch = {"records": records[start : start + BATCH_SIZE]}
            response = http.post("/predict/batch", json=batch)
            assert response.status_code == 200, response.text
        labels = [
            {"customerID": customer, "churn": bool(churn)}
            for customer, churn in zip(frame[ID_COLUMN], frame[TARGET_COLUMN], strict=True)
        ]
        response = http.post("/feedback", json={"labels": labels}, headers={"X-API-Key": API_KEY})
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == len(labels)
    return Traffic(predictions=len(records), labels=len(labels))


@pytest.fixture(scope="module")
def snapshot(server: LiveServer, traffic: Traffic) -> dict[str, Any]:
    """The first snapshot that holds all the traffic and labels (waits for the monitor)."""
    deadline = time.monotonic() + DATA_TIMEOUT_SECONDS
    last = "no answer"
    with server.client() as http:
        while time.monotonic() < deadline:
            response = http.get("/dashboard/data")
            if response.status_code == 200:
                body: dict[str, Any] = response.json()
                if (
                    body["window_rows"] >= traffic.predictions
                    and body["labeled"] >= traffic.labels
                    and body["quality"]
                ):
                    return body
                last = (
                    f"200 with window_rows={body['window_rows']}, labeled={body['labeled']}, "
                    f"{len(body['quality'])} quality rows"
                )
            else:
                last = f"{response.status_code} {response.text[:300]}"
            time.sleep(0.5)
    pytest.fail(
        f"/dashboard/data did not show the {traffic.predictions} predictions and "
        f"{traffic.labels} labels within {DATA_TIMEOUT_SECONDS:g} s; last answer: {last}. Does "
        f"the service run its monitor (app.state.monitor)? Server output:\n{_tail(server)}"
    )


def _tail(server: LiveServer, lines: int = 30) -> str:
    """The end of the server's output, without the access-log lines of the polling above."""
    kept = [line for line in server.output().splitlines() if "/dashboard/data" not in line]
    return "\n".join(kept[-lines:])


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, BrowserLog]]:
    tab = browser.new_page(viewport={"width": 1280, "height": 900})
    log = BrowserLog(console=[], errors=[])
    tab.on("console", lambda message: log.console.append(message))
    tab.on("pageerror", lambda error: log.errors.append(str(error)))
    try:
        yield tab, log
    finally:
        tab.close()


def _data(tab: Page, testid: str, name: str) -> str:
    value = tab.get_attribute(f'[data-testid="{testid}"]', f"data-{name}")
    assert value is not None, f"{testid} has no data-{name}"
    return value


def _save_screenshot(tab: Page, name: str) -> Path:
    destination = ARTIFACTS / name
    with atomic_path(destination) as tmp:
        tmp.write_bytes(tab.screenshot(full_page=True))
    return destination


def test_the_dashboard_draws_the_live_service_without_console_errors(
    server: LiveServer,
    traffic: Traffic,
    snapshot: dict[str, Any],
    page: tuple[Page, BrowserLog],
) -> None:
    tab, log = page
    response = tab.goto(f"{server.base_url}/dashboard")
    assert response is not None
    assert response.status == 200
    try:
        tab.wait_for_function(ALL_RENDERED, arg=list(CHARTS), timeout=RENDER_TIMEOUT_MS)
    finally:
        screenshot = _save_screenshot(tab, "dashboard.png")
    assert screenshot.stat().st_size > 10_000
    assert tab.title() == "churnguard dashboard"
    assert log.errors == []
    assert log.console_errors() == []

    traffic_total = sum(point["predictions"] for point in snapshot["traffic"])
    assert traffic_total >= traffic.predictions
    assert int(_data(tab, "chart-traffic", "total")) == traffic_total
    assert int(_data(tab, "chart-risk", "total")) == sum(b["count"] for b in snapshot["risk"])
    features = snapshot["features"]
    drifted = [row["feature"] for row in features if row["drifted"]]
    assert drifted, f"the drifted half of the traffic was not flagged: {features}"
    assert int(_data(tab, "chart-drift", "points")) == len(features)
    assert int(_data(tab, "chart-drift", "drifted")) == len(drifted)
    bars = tab.locator('[data-testid="chart-drift"] rect[data-feature]')
    assert bars.count() == len(features)
    drawn = tab.locator('[data-testid="chart-drift"] rect[data-drifted="true"]')
    assert sorted(drawn.evaluate_all("(rects) => rects.map((r) => r.dataset.feature)")) == sorted(
        drifted
    )
    status = snapshot["drift_status"].replace("_", " ")
    assert tab.text_content('[data-testid="drift-status"]') == status
    assert snapshot["model"]["version"] in (tab.text_content('[data-testid="model-card"]') or "")
    assert tab.locator('[data-testid="risk-bands"] li').count() == len(snapshot["bands"])
    for chart in CHARTS[1:]:
        label = tab.get_attribute(f'[data-testid="{chart}"]', "aria-label") or ""
        assert label
        assert "no data yet" not in label, chart


def _start_in_process(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = free_port()
    # ws="none": the page needs no websockets, and uvicorn would import a deprecated module.
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the in-process server did not start within 60 s")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


def _is_the_documented_503(message: ConsoleMessage) -> bool:
    # Chromium logs every non-2xx fetch as a console error of its own; the page itself logs
    # nothing. The 503 of /dashboard/data before the first snapshot is the documented answer.
    return str(message.location.get("url", "")).endswith("/dashboard/data") and (
        "status of 503" in message.text
    )


def test_the_page_waits_for_the_first_snapshot_then_draws_it(
    served_bundle: Bundle, tmp_path: Path, page: tuple[Page, BrowserLog]
) -> None:
    tab, log = page
    config = app_config(str(served_bundle.path), tmp_path / "serving.db")
    config = config.model_copy(
        update={"monitoring": config.monitoring.model_copy(update={"refresh_seconds": 1.0})}
    )
    app = create_app(config)
    server, thread, base_url = _start_in_process(app)
    try:
        # Whatever the service's own monitor does, this one has no snapshot until told.
        app.state.monitor = monitor = FixedMonitor()
        tab.goto(f"{base_url}/dashboard")
        tab.wait_for_selector('[data-testid="notice"]:visible', timeout=RENDER_TIMEOUT_MS)
        notice = tab.text_content('[data-testid="notice"]') or ""
        assert notice.startswith("No data yet:")
        assert "has not built its first snapshot" in notice
        assert tab.get_attribute("body", "data-state") == "empty"
        for chart in CHARTS:
            assert _data(tab, chart, "rendered") == "false", chart

        monitor.snapshot = sample_snapshot()
        tab.wait_for_function(ALL_RENDERED, arg=list(CHARTS), timeout=RENDER_TIMEOUT_MS)
        assert tab.locator('[data-testid="notice"]').is_hidden()
        assert int(_data(tab, "chart-drift", "points")) == len(monitor.snapshot.features)
        assert int(_data(tab, "chart-drift", "drifted")) == 4
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    assert log.errors == []
    unexpected = [
        m.text for m in log.console if m.type == "error" and not _is_the_documented_503(m)
    ]
    assert unexpected == []
