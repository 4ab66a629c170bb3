"""Administration (API key required): reload the models, start or stop an experiment."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from churnguard.api.config import ServingConfig
from churnguard.api.deps import Config, Metrics, RequestId, Slot
from churnguard.api.schemas import (
    ExperimentOut,
    ExperimentRequest,
    ExperimentResponse,
    ReloadResponse,
)
from churnguard.api.security import ApiKey
from churnguard.api.state import ChallengerUnavailableError, ModelHolder, freeze_long_lived

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
    refused (409) and the old one keeps serving. In a shadow or A/B experiment the challenger
    (``serving.challenger_uri``) is reloaded too; one that fails to load ends the experiment
    (``single``, the reason in ``experiment.challenger_reason``).
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
            experiment=experiment_out(previous, config.serving),
        )
        return JSONResponse(status_code=409, content=body.model_dump())
    metrics.reloads.labels("loaded").inc()
    metrics.model_served(attempted.served.load_seconds, attempted.served.info.trained_at)
    await run_in_threadpool(freeze_long_lived)
    return ReloadResponse(
        reloaded=True,
        previous_version=before,
        version=attempted.served.version,
        request_id=request_id,
        experiment=experiment_out(attempted, config.serving),
    )


def experiment_out(holder: ModelHolder, serving: ServingConfig) -> ExperimentOut:
    """What ``holder`` runs: mode, share and challenger (or why there is none)."""
    challenger = holder.challenger
    return ExperimentOut(
        mode=holder.experiment.mode,
        ab_share=holder.experiment.share,
        challenger_uri=serving.challenger_uri,
        challenger_version=challenger.version if challenger else None,
        challenger_reason=holder.challenger_reason,
    )


@router.post(
    "/experiment",
    response_model=ExperimentResponse,
    responses={401: {}, 403: {}, 409: {}},
)
async def set_experiment(
    body: ExperimentRequest, slot: Slot, config: Config, request_id: RequestId
) -> ExperimentResponse:
    """Switch between ``single``, ``shadow`` and ``ab`` (with the challenger's share).

    A challenger not loaded yet is loaded from ``serving.challenger_uri`` first; when it cannot
    be, the answer is 409 with the reason and the service keeps its current mode. The change
    lasts until the next restart (``/admin/reload`` keeps it).
    """
    share = slot.holder.experiment.share if body.ab_share is None else body.ab_share
    try:
        holder = await run_in_threadpool(
            slot.set_experiment, config.serving, config.mlflow, body.mode, share
        )
    except ChallengerUnavailableError as exc:
        detail = f"cannot run {body.mode!r}: the challenger is not loaded ({exc})"
        raise HTTPException(status_code=409, detail=detail) from None
    out = experiment_out(holder, config.serving)
    return ExperimentResponse(**out.model_dump(), request_id=request_id)
