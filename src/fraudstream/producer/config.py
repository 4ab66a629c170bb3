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
    #: How long a record batch waits for more records. Longer batches mean fewer batches in
    #: the log: Tansu's fetch slows down with the number of batches in a partition (measured at
    #: 1,000 records/s: linger 5 ms, p99 produce-to-fetch 24 ms at first, 195 ms after 35 s;
    #: linger 20 ms, 39-45 ms throughout).
    linger_ms: Annotated[int, Field(ge=0, le=1000)] = 20
    batch_bytes: Annotated[int, Field(ge=1024)] = 262_144
    retries: Annotated[int, Field(ge=0)] = 10
