"""Configuration of the replay producer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class ReplayConfig(BaseModel):
    """How ``fraudstream replay`` sends a transaction file to the broker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Progress of the last replay per input file, so an interrupted one resumes without
    #: duplicates (run state: git-ignored).
    checkpoint_dir: Path = Path(".run/replay")
    #: Send a "labels complete through" watermark after this many transactions at most.
    watermark_every: Annotated[int, Field(ge=1)] = 200
    linger_ms: Annotated[int, Field(ge=0, le=1000)] = 5
    batch_bytes: Annotated[int, Field(ge=1024)] = 262_144
    retries: Annotated[int, Field(ge=0)] = 10
