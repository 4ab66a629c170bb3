"""Administration (API key required): reload the model behind the configured alias."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from churnguard.api.deps import Config, Metrics, RequestId, Slot
from churnguard.api.schemas import ReloadResponse
from churnguard.api.security import ApiKey

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[ApiKey])


@router.post(
    "/reload",
    response_model=ReloadResponse,
    responses={401: {}, 403: {}, 409: {"model": ReloadResponse}},
)
async def reload(
    slot: Slot, config: Config, metrics: Metrics, request_id: RequestId
) -> ReloadResponse | JSONResponse:
    """Load the model now behind ``serving.model_uri`` and swap it in atomically.

    Requests already running finish on the old model. A model that fails to load or verify is
    refused (409) and the old one keeps serving.
    """
    previous, attempted = await run_in_threadpool(slot.reload, config.serving, config.mlflow)
    before = previous.served.version if previous.served else None
    if attempted.served is None:
        metrics.reloads.labels("refused").inc()
        body = ReloadResponse(
            reloaded=False,
            previous_version=before,
            version=before,
            reason=attempted.reason,
            request_id=request_id,
        )
        return JSONResponse(status_code=409, content=body.model_dump())
    metrics.reloads.labels("loaded").inc()
    metrics.model_served(attempted.served.load_seconds, attempted.served.info.trained_at)
    return ReloadResponse(
        reloaded=True,
        previous_version=before,
        version=attempted.served.version,
        request_id=request_id,
    )
