"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from churnguard.api.schemas import HealthOut

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut)
async def health() -> HealthOut:
    """Liveness: 200 while the process can answer."""
    return HealthOut(status="ok")


@router.get("/ready", response_model=HealthOut, responses={503: {"model": HealthOut}})
async def ready(request: Request) -> HealthOut | JSONResponse:
    """Readiness: 200 only with a loaded, warmed-up model; otherwise 503 and the reason."""
    holder = request.app.state.slot.holder
    if holder.served is None:
        body = HealthOut(status="not_ready", reason=holder.reason)
        return JSONResponse(status_code=503, content=body.model_dump())
    return HealthOut(status="ready")
