"""Dependencies shared by the routers, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from churnguard.api.config import ServingConfig
from churnguard.api.state import ModelHolder, ServedModel


def _served_model(request: Request) -> ServedModel:
    holder: ModelHolder = request.app.state.model
    if holder.served is None:
        raise HTTPException(status_code=503, detail=f"no model is loaded: {holder.reason}")
    return holder.served


def _request_id(request: Request) -> str:
    value: str = request.state.request_id
    return value


def _serving(request: Request) -> ServingConfig:
    config: ServingConfig = request.app.state.serving
    return config


Served = Annotated[ServedModel, Depends(_served_model)]
RequestId = Annotated[str, Depends(_request_id)]
Serving = Annotated[ServingConfig, Depends(_serving)]

__all__ = ["RequestId", "Served", "Serving"]
