"""Where an interrupted replay resumes: one small JSON file per replay.

A replay is identified by what decides its records and where they go: the input's sha256, the
options that change the sequence (start, limit, watermark cadence, the sequence layout), the
bootstrap servers and the topics. Its checkpoint holds the index of the next record of the
merged sequence to send; it is written (atomically) only after the producer confirmed every
record before that index, so resuming sends no duplicate and leaves no gap after a clean stop.
After a hard kill, records sent since the last checkpoint are sent again (consumers de-duplicate
by ``TRANSACTION_ID``).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fraudstream.errors import PipelineStateError, first_problem
from fraudstream.io import write_model_json


class ReplayKey(BaseModel):
    """What identifies one replay: same key, same records, same destination."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_sha256: str
    start: datetime | None
    limit: int | None
    watermark_every: int
    sequence_version: int
    bootstrap_servers: str
    transactions_topic: str
    labels_topic: str

    def digest(self) -> str:
        """A short stable hash of the key (the checkpoint's file name)."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:24]


class ReplayCheckpoint(BaseModel):
    """How far a replay got: everything before ``next_index`` is confirmed by the broker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: ReplayKey
    input_path: str
    next_index: Annotated[int, Field(ge=0)]
    total: Annotated[int, Field(ge=0)]
    updated_at: datetime

    @property
    def finished(self) -> bool:
        """Whether every record of the sequence was confirmed."""
        return self.next_index >= self.total


def checkpoint_path(directory: Path, key: ReplayKey) -> Path:
    """The checkpoint file of ``key`` under ``directory``."""
    return directory / f"replay-{key.digest()}.json"


def load_checkpoint(directory: Path, key: ReplayKey, total: int) -> ReplayCheckpoint | None:
    """The checkpoint of ``key``, or ``None`` when there is none.

    Raises:
        PipelineStateError: the file is unreadable or belongs to a sequence of another length.
    """
    path = checkpoint_path(directory, key)
    if not path.is_file():
        return None
    try:
        checkpoint = ReplayCheckpoint.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        reason = first_problem(exc) if isinstance(exc, ValidationError) else str(exc)
        msg = f"replay checkpoint {path} is unreadable ({reason}): delete it or pass --no-resume"
        raise PipelineStateError(msg) from exc
    if checkpoint.key != key or checkpoint.total != total or checkpoint.next_index > total:
        msg = (
            f"replay checkpoint {path} does not match this replay ({checkpoint.total:,} records "
            f"recorded, {total:,} now): delete it or pass --no-resume"
        )
        raise PipelineStateError(msg)
    return checkpoint


def save_checkpoint(
    directory: Path, key: ReplayKey, input_path: Path, next_index: int, total: int
) -> ReplayCheckpoint:
    """Write the checkpoint of ``key`` atomically and return it."""
    checkpoint = ReplayCheckpoint(
        key=key,
        input_path=str(input_path),
        next_index=next_index,
        total=total,
        updated_at=datetime.now(UTC),
    )
    write_model_json(checkpoint_path(directory, key), checkpoint)
    return checkpoint


__all__ = [
    "ReplayCheckpoint",
    "ReplayKey",
    "checkpoint_path",
    "load_checkpoint",
    "save_checkpoint",
]
