"""Dependencies shared by the routers, as ``Annotated`` aliases.

They are ``async``: FastAPI runs a plain ``def`` dependency in the thread pool, a round trip
that cost more than the whole prediction.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from churnguard.api.config import ServingConfig
from churnguard.api.metrics import ServiceMetrics
from churnguard.api.state import ModelHolder, ModelSlot, ServedModel
from churnguard.config import ChurnguardConfig
from churnguard.monitoring.store import MonitoringStore


async def _served_model(request: Request) -> ServedModel:
    # One read of the slot: the request keeps this model even if a reload swaps it meanwhile.
    holder = request.app.state.slot.holder
    if holder.served is None:
        raise HTTPException(status_code=503, detail=f"no model is loaded: {holder.reason}")
    request.state.model_version = holder.served.version
    served: ServedModel = holder.served
    return served


async def _holder(request: Request) -> ModelHolder:
    # The whole slot in one read: champion, challenger and experiment stay consistent.
    holder: ModelHolder = request.app.state.slot.holder
    if holder.served is None:
        raise HTTPException(status_code=503, detail=f"no model is loaded: {holder.reason}")
    request.state.model_version = holder.served.version
    return holder


async def _request_id(request: Request) -> str:
    value: str = request.state.request_id
    return value


async def _serving(request: Request) -> ServingConfig:
    config: ServingConfig = request.app.state.config.serving
    return config


async def _config(request: Request) -> ChurnguardConfig:
    config: ChurnguardConfig = request.app.state.config
    return config


async def _metrics(request: Request) -> ServiceMetrics:
    metrics: ServiceMetrics = request.app.state.metrics
    return metrics


async def _slot(request: Request) -> ModelSlot:
    slot: ModelSlot = request.app.state.slot
    return slot


async def _store(request: Request) -> MonitoringStore:
    store: MonitoringStore = request.app.state.store
    return store


Served = Annotated[ServedModel, Depends(_served_model)]
#: The slot's holder, with a champion loaded (503 otherwise).
Holder = Annotated[ModelHolder, Depends(_holder)]
RequestId = Annotated[str, Depends(_request_id)]
Serving = Annotated[ServingConfig, Depends(_serving)]
Config = Annotated[ChurnguardConfig, Depends(_config)]
Metrics = Annotated[ServiceMetrics, Depends(_metrics)]
Slot = Annotated[ModelSlot, Depends(_slot)]
Store = Annotated[MonitoringStore, Depends(_store)]

__all__ = ["Config", "Holder", "Metrics", "RequestId", "Served", "Serving", "Slot", "Store"]
