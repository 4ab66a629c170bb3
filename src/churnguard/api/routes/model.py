"""The served model's identity and quality, and the experiment it runs in."""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter

from churnguard.api.deps import Config, Holder
from churnguard.api.routes.admin import experiment_out
from churnguard.api.schemas import ModelInfoOut
from churnguard.api.state import ServedModel

router = APIRouter(tags=["model"])


@router.get("/model", response_model=ModelInfoOut)
def model_info(holder: Holder, config: Config) -> ModelInfoOut:
    """Name, version, alias, run id, training-data hash, metrics and threshold of the model.

    ``experiment`` tells the mode (``single``, ``shadow``, ``ab``), the challenger's share and
    version, or why no challenger is loaded.
    """
    info = cast(ServedModel, holder.served).info  # Holder answers 503 without a model
    return info.model_copy(update={"experiment": experiment_out(holder, config.serving)})
