"""The FastAPI application factory: model loaded in the lifespan, one router per resource."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from starlette.exceptions import HTTPException as StarletteHTTPException

from churnguard import __version__
from churnguard.api.errors import http_error, validation_error
from churnguard.api.experiment import ShadowRunner
from churnguard.api.metrics import create_metrics
from churnguard.api.middleware import REQUEST_ID_HEADER, ServiceMiddleware
from churnguard.api.openapi import document_models
from churnguard.api.retry import ModelRetrier
from churnguard.api.routes import admin, dashboard, feedback, health, metrics, model, predict, v2
from churnguard.api.schemas import BatchRequest
from churnguard.api.security import resolve_api_key
from churnguard.api.state import ModelSlot, ServedModel, freeze_long_lived, try_load
from churnguard.config import ChurnguardConfig
from churnguard.monitoring.monitor import ServiceMonitor
from churnguard.monitoring.predlog import PredictionLog
from churnguard.monitoring.store import MonitoringStore, StoreUnavailableError

logger = logging.getLogger(__name__)

_DESCRIPTION = """Churn probability, decision and explanations for telecom customers.

* `/predict`, `/predict/batch`, `/explain`: score and explain customers (typed records).
* `/feedback`, `/admin/reload`, `/admin/experiment`: need the `X-API-Key` header; disabled until
  a key is configured.
* `/health`, `/ready`, `/metrics`, and the Open Inference Protocol (KServe V2) under `/v2`.
"""


def create_app(config: ChurnguardConfig) -> FastAPI:
    """Build the prediction service for ``config`` (the model loads at startup).

    Raises:
        ConfigError: the API key file is configured but unreadable.
    """
    service_metrics = create_metrics()
    slot = ModelSlot()
    store = MonitoringStore(config.serving.store_url)
    prediction_log = (
        PredictionLog(config.serving.store_url, config.monitoring, service_metrics)
        if config.monitoring.log_predictions
        else None
    )
    # Drift and quality gauges, and the /dashboard snapshot, refreshed in the background.
    monitor = ServiceMonitor(store, config.monitoring, service_metrics, lambda: slot.holder.served)
    # The challenger's shadow scoring: a bounded background pool, off the request path.
    shadow = ShadowRunner(service_metrics.shadow_errors.inc)

    def loaded(served: ServedModel) -> None:
        service_metrics.model_served(served.load_seconds, served.info.trained_at)

    def loaded_on_retry(served: ServedModel) -> None:
        loaded(served)
        freeze_long_lived()

    # Started without a model, the service keeps trying to load one in the background.
    retrier = ModelRetrier(slot, config.serving, config.mlflow, loaded_on_retry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        slot.holder = await run_in_threadpool(try_load, config.serving, config.mlflow)
        if (served := slot.holder.served) is not None:
            loaded(served)
        try:
            await run_in_threadpool(store.create)
        except StoreUnavailableError as exc:
            # Predictions are still served (and spooled); labels get 503 until it is back.
            logger.warning("serving store unavailable at startup", extra={"reason": str(exc)})
        if prediction_log is not None:
            await run_in_threadpool(prediction_log.start)
        freeze_long_lived()
        monitor.start()
        retrier.start()
        yield
        await run_in_threadpool(retrier.stop)
        monitor.stop()
        await run_in_threadpool(shadow.shutdown)  # its last scores still reach the log
        if prediction_log is not None:
            await run_in_threadpool(prediction_log.stop)
        store.close()

    app = FastAPI(
        title="churnguard",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
    )
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.state.config = config
    app.state.slot = slot
    app.state.store = store
    app.state.prediction_log = prediction_log
    app.state.monitor = monitor
    app.state.shadow = shadow
    app.state.retrier = retrier
    app.state.metrics = service_metrics
    app.state.api_key = resolve_api_key(config.serving)
    for router in (
        health.router,
        model.router,
        predict.router,
        feedback.router,
        admin.router,
        metrics.router,
        dashboard.router,
        v2.router,
    ):
        app.include_router(router)
    # Routes that parse their own body (``/predict/batch``) still document its model.
    app.openapi = document_models(app, [BatchRequest])  # type: ignore[method-assign]
    if config.serving.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.serving.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key", REQUEST_ID_HEADER],
            expose_headers=[REQUEST_ID_HEADER],
        )
    app.add_middleware(
        ServiceMiddleware,
        metrics=service_metrics,
        max_body_bytes=config.serving.max_body_bytes,
        customer_id_logging=config.serving.log_customer_id,
    )
    return app


__all__ = ["REQUEST_ID_HEADER", "create_app"]
