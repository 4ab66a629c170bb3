"""The built-in dashboard: one self-contained page and the monitor snapshot it draws.

``GET /dashboard`` serves ``churnguard/api/dashboard.html``: inline CSS and JavaScript, charts
drawn as SVG by the page itself, no external script, font or CDN, so it works offline and needs
no Grafana. The page polls ``GET /dashboard/data``, the latest
:class:`~churnguard.monitoring.snapshot.MonitorSnapshot` built by the service's background
monitor (``app.state.monitor``), which answers 503 with the reason until there is one.

The page is sent with a Content-Security-Policy that allows only its own inline script and
style (by hash) and requests to this service, so the browser itself refuses anything external.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import re
from importlib import resources
from typing import Any, Final, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from churnguard.monitoring.config import MonitoringConfig
from churnguard.monitoring.snapshot import MonitorSnapshot

router = APIRouter(tags=["dashboard"])

PAGE_RESOURCE: Final = "dashboard.html"
#: Replaced by the page settings (JSON) when the page is served.
_SETTINGS_MARK: Final = '"__DASHBOARD_SETTINGS__"'
#: The page's inline code and style blocks (the settings block has a ``type`` and is not code).
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)
#: Bounds of the page's polling period (seconds): fresh without hammering the service.
_POLL_SECONDS: Final = (2.0, 15.0)
_NO_STORE: Final = {"Cache-Control": "no-store"}


class SnapshotSource(Protocol):
    """What ``app.state.monitor`` provides: the latest snapshot, ``None`` before the first."""

    def latest(self) -> MonitorSnapshot | None:
        """The most recent snapshot, or ``None`` until the monitor has built one."""
        ...


class DashboardUnavailable(BaseModel):
    """``GET /dashboard/data`` before the monitor has data: why, and when to try again."""

    detail: str


@functools.cache
def _template() -> str:
    return resources.files("churnguard.api").joinpath(PAGE_RESOURCE).read_text(encoding="utf-8")


def _source_hashes(page: str) -> str:
    """CSP sources of every inline ``<script>`` and ``<style>`` block of ``page``."""
    hashes = []
    for _, body in _INLINE.findall(page):
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii")
        hashes.append(f"'sha256-{digest}'")
    return " ".join(hashes)


@functools.cache
def content_security_policy() -> str:
    """The page's policy: its own inline code and style only, requests to this origin only."""
    hashes = _source_hashes(_template())
    return (
        f"default-src 'none'; script-src {hashes}; style-src {hashes}; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


def poll_seconds(monitoring: MonitoringConfig) -> float:
    """How often the page asks for data: the monitor's refresh period, kept within 2-15 s."""
    low, high = _POLL_SECONDS
    return min(max(monitoring.refresh_seconds, low), high)


def render_page(monitoring: MonitoringConfig) -> str:
    """The dashboard page with the thresholds it draws and its polling period filled in."""
    settings = {
        "poll_seconds": poll_seconds(monitoring),
        "psi_threshold": monitoring.psi_threshold,
        "prediction_psi_threshold": monitoring.prediction_psi_threshold,
        "drift_share_threshold": monitoring.drift_share_threshold,
        "min_roc_auc": monitoring.min_roc_auc,
    }
    # "<" escaped so no value can close the settings' <script> element.
    return _template().replace(_SETTINGS_MARK, json.dumps(settings).replace("<", "\\u003c"))


def _snapshot_or_reason(request: Request, monitoring: MonitoringConfig) -> MonitorSnapshot | str:
    """The monitor's latest snapshot, or why there is none."""
    monitor: SnapshotSource | None = getattr(request.app.state, "monitor", None)
    if monitor is None:
        return (
            "no monitor runs in this service, so there is no dashboard data: the service's "
            "background monitor builds it from the prediction log (see the monitoring section "
            "of the configuration)"
        )
    snapshot = monitor.latest()
    if snapshot is None:
        return (
            "the monitor has not built its first snapshot yet; it refreshes every "
            f"{monitoring.refresh_seconds:g} s (monitoring.refresh_seconds): try again then"
        )
    return snapshot


_HTML_RESPONSE: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": "The dashboard page (self-contained HTML).",
        "content": {"text/html": {"schema": {"type": "string"}}},
    }
}
_DATA_503: Final[dict[int | str, dict[str, Any]]] = {
    503: {
        "model": DashboardUnavailable,
        "description": "The monitor has no snapshot yet (or does not run); the reason says why.",
        "headers": {
            "Retry-After": {
                "description": "Seconds until the next refresh of the monitor.",
                "schema": {"type": "integer"},
            }
        },
    }
}


@router.get("/dashboard", response_class=HTMLResponse, responses=_HTML_RESPONSE)
async def dashboard(request: Request) -> HTMLResponse:
    """The service dashboard: model, traffic, churn risk, drift and quality (polls its data)."""
    monitoring: MonitoringConfig = request.app.state.config.monitoring
    headers = {"Content-Security-Policy": content_security_policy(), **_NO_STORE}
    return HTMLResponse(render_page(monitoring), headers=headers)


@router.get("/dashboard/data", response_model=MonitorSnapshot, responses=_DATA_503)
async def dashboard_data(request: Request) -> Response:
    """The monitor's latest snapshot; 503 with the reason before the first one."""
    monitoring: MonitoringConfig = request.app.state.config.monitoring
    found = _snapshot_or_reason(request, monitoring)
    if isinstance(found, MonitorSnapshot):
        return Response(found.model_dump_json(), media_type="application/json", headers=_NO_STORE)
    retry = {"Retry-After": str(max(1, math.ceil(monitoring.refresh_seconds))), **_NO_STORE}
    body = DashboardUnavailable(detail=found)
    return JSONResponse(status_code=503, content=body.model_dump(), headers=retry)


__all__ = [
    "PAGE_RESOURCE",
    "DashboardUnavailable",
    "SnapshotSource",
    "content_security_policy",
    "poll_seconds",
    "render_page",
    "router",
]
