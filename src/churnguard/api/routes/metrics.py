"""Prometheus exposition."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from churnguard.api.deps import Metrics

router = APIRouter(tags=["monitoring"])


@router.get("/metrics", response_class=Response)
def metrics(service: Metrics) -> Response:
    """Request counts and latencies, predictions by version and label, model load state."""
    return Response(content=service.exposition(), media_type=CONTENT_TYPE_LATEST)
