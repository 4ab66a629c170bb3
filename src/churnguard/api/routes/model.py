"""The served model's identity and quality."""

from __future__ import annotations

from fastapi import APIRouter

from churnguard.api.deps import Served
from churnguard.api.schemas import ModelInfoOut

router = APIRouter(tags=["model"])


@router.get("/model", response_model=ModelInfoOut)
def model_info(served: Served) -> ModelInfoOut:
    """Name, version, alias, run id, training-data hash, metrics and threshold of the model."""
    return served.info
