"""The JSON manifest written beside every ingested raw file."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from fraudstream.errors import PipelineStateError

MANIFEST_NAME = "manifest.json"
RAW_FILE_NAME = "transactions.parquet"


class IngestManifest(BaseModel):
    """Provenance of one ingested raw file: where it came from and what it holds.

    It holds no time of ingestion on purpose: the same source and configuration give the same
    manifest byte for byte, so the DVC lock that records it is reproducible (git and the logs
    say when).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    source_kind: str
    file: str
    sha256: str
    checksum_verified: bool
    rows: int
    columns: list[str]
    bytes: int
    fraudstream_version: str
    details: dict[str, str | int | float | bool | None] = {}


def read_manifest(raw_dir: Path) -> IngestManifest:
    """Load the manifest of the last ingestion in ``raw_dir``.

    Raises:
        PipelineStateError: nothing has been ingested there yet, or the manifest is unreadable.
    """
    path = raw_dir / MANIFEST_NAME
    if not path.is_file():
        msg = f"no ingested data found ({path} is missing): run `fraudstream ingest` first"
        raise PipelineStateError(msg)
    try:
        return IngestManifest.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        msg = f"{path} is not a valid ingestion manifest ({exc}); run `fraudstream ingest` again"
        raise PipelineStateError(msg) from exc


__all__ = ["MANIFEST_NAME", "RAW_FILE_NAME", "IngestManifest", "read_manifest"]
