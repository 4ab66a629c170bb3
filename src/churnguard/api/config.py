"""Configuration of the prediction service (``serving`` section)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class ServingConfig(BaseModel):
    """Which model to serve and how much work one request may ask for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: ``models:/<name>@<alias>`` from the registry, or a local MLflow model folder (a bundle).
    model_uri: str = "models:/churnguard@champion"
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    max_batch: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    explain_top_k: Annotated[int, Field(ge=1, le=19)] = 3


__all__ = ["ServingConfig"]
