"""The FastAPI application factory: model loaded in the lifespan, one router per resource."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from churnguard import __version__
from churnguard.api.routes import health, model, predict
from churnguard.api.state import try_load
from churnguard.config import ChurnguardConfig

REQUEST_ID_HEADER = "X-Request-ID"


def create_app(config: ChurnguardConfig) -> FastAPI:
    """Build the prediction service for ``config`` (nothing is loaded until startup)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.model = try_load(config.serving, config.mlflow)
        yield

    app = FastAPI(
        title="churnguard",
        version=__version__,
        description="Churn probability, decision and explanations for telecom customers.",
        lifespan=lifespan,
    )
    app.state.serving = config.serving

    @app.middleware("http")
    async def request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request.state.request_id = incoming if 0 < len(incoming) <= 128 else uuid.uuid4().hex
        response = await call_next(request)
        response.headers[REQUEST_ID_HEADER] = request.state.request_id
        return response

    for router in (health.router, model.router, predict.router):
        app.include_router(router)
    return app


__all__ = ["REQUEST_ID_HEADER", "create_app"]
