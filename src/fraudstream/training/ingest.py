"""Ingestion: bring transactions from any source into ``data/raw`` with a provenance manifest.

The raw file is always ``transactions.parquet``: the simulator's frame, a Parquet file's table,
a SQL query's rows, or a CSV file's (or download's) table as pandas reads it, values untyped —
validation types them next and reports what does not fit. A URL's or file's bytes are checked
against a pinned sha256 before anything is converted. The raw file and its manifest replace
earlier ones only once the new data has been read successfully.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa

from fraudstream import __version__
from fraudstream.errors import IngestionError
from fraudstream.io import atomic_paths, sha256_file
from fraudstream.simulator import SimulatorConfig, simulate
from fraudstream.training.config import DataSourceConfig
from fraudstream.training.manifest import MANIFEST_NAME, RAW_FILE_NAME, IngestManifest
from fraudstream.training.sources import (
    ProgressCallback,
    SourceKind,
    classify_source,
    describe_source,
    download,
    read_sql,
    verify_checksum,
)
from fraudstream.transactions.files import read_transaction_file

logger = logging.getLogger(__name__)

Details = dict[str, str | int | float | bool | None]


def _staged_file(
    source: str, staging: Path, config: DataSourceConfig, progress: ProgressCallback | None
) -> tuple[Path, bool]:
    """Bring a URL's or file's bytes to ``staging``; return the copy and whether a pin matched."""
    expected = config.checksums.get(source)
    if classify_source(source) is SourceKind.URL:
        suffix = ".parquet" if source.lower().split("?")[0].endswith(".parquet") else ".csv"
        target = staging.with_suffix(suffix)
        digest = download(source, target, config.download, progress)
        return target, verify_checksum(digest, expected, describe_source(source))
    path = Path(source)
    if not path.is_file():
        read_transaction_file(path)  # raises the right error for a folder or a missing file
    target = staging.with_suffix(".parquet" if path.suffix.lower() == ".parquet" else ".csv")
    try:
        shutil.copyfile(path, target)
    except PermissionError as exc:
        msg = f"cannot read {path}: permission denied; make the file readable for this user"
        raise IngestionError(msg) from exc
    return target, verify_checksum(sha256_file(target), expected, source)


def _frame(
    source: str,
    staging: Path,
    config: DataSourceConfig,
    simulator: SimulatorConfig,
    progress: ProgressCallback | None,
) -> tuple[pd.DataFrame, bool, Details]:
    kind = classify_source(source)
    if kind is SourceKind.SIMULATOR:
        details: Details = {
            f"simulator_{k}": v
            for k, v in simulator.model_dump(mode="json").items()
            if k != "drift"
        }
        details["simulator_drift"] = json.dumps(simulator.model_dump(mode="json")["drift"])
        return simulate(simulator), False, details
    if kind is SourceKind.SQL:
        frame = read_sql(source, config.sql_query, config.sql_table, progress)
        return frame, False, {"sql_query": config.sql_query, "sql_table": config.sql_table}
    copy, verified = _staged_file(source, staging, config, progress)
    frame = read_transaction_file(copy, describe_source(source))
    digest = sha256_file(copy)
    known = [name for name, pinned in config.checksums.items() if pinned == digest]
    details = {"source_sha256": digest}
    # Provenance: a local copy whose bytes equal a pinned source is that source's data.
    if known:
        details["same_bytes_as"] = describe_source(known[0])
    return frame, verified, details


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    try:
        frame.to_parquet(path, index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # Mixed Python types in a column (text among numbers): keep them as text for validation.
        mixed = {c: frame[c].astype("string") for c in frame.columns if frame[c].dtype == object}
        frame.assign(**mixed).to_parquet(path, index=False)


def ingest_transactions(
    source: str,
    destination: Path,
    config: DataSourceConfig | None = None,
    simulator: SimulatorConfig | None = None,
    progress: ProgressCallback | None = None,
) -> IngestManifest:
    """Ingest ``source`` into the folder ``destination``; return the manifest written there.

    Args:
        source: ``simulator``, an ``https://`` URL, a CSV or Parquet path, or a SQLAlchemy URL.
        destination: The raw-data folder (``data/raw``).
        config: Checksums, SQL query and download settings; defaults when omitted.
        simulator: The simulator's settings, for the ``simulator`` source.
        progress: Optional callback for bytes or rows done.

    Raises:
        IngestionError: the source is unreadable, unreachable, empty or fails its checksum.
    """
    config = config or DataSourceConfig()
    simulator = simulator or SimulatorConfig()
    raw_path = destination / RAW_FILE_NAME
    with atomic_paths(raw_path, destination / MANIFEST_NAME) as (tmp, manifest_tmp):
        staging = tmp.with_name(tmp.name + ".source")
        try:
            frame, verified, details = _frame(source, staging, config, simulator, progress)
        finally:
            for leftover in (staging.with_suffix(".csv"), staging.with_suffix(".parquet")):
                leftover.unlink(missing_ok=True)
        if frame.empty:
            msg = f"{describe_source(source)} gave no rows: expected at least one transaction"
            raise IngestionError(msg)
        _write_parquet(frame, tmp)
        manifest = IngestManifest(
            source=describe_source(source),
            source_kind=classify_source(source).value,
            file=RAW_FILE_NAME,
            sha256=sha256_file(tmp),
            checksum_verified=verified,
            rows=len(frame),
            columns=[str(c) for c in frame.columns],
            bytes=tmp.stat().st_size,
            fraudstream_version=__version__,
            details=details,
        )
        manifest_tmp.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    logger.info(
        "ingested transactions",
        extra={"source": manifest.source, "rows": manifest.rows, "sha256": manifest.sha256},
    )
    return manifest


__all__ = ["ingest_transactions"]
