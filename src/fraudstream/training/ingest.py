"""Ingestion: bring raw customer data from any source into ``data/raw`` with a manifest.

The raw file is always ``customers.csv`` in the Telco layout. URL and CSV sources are kept byte
for byte (so their sha256 can be checked against a pinned value); Parquet, SQL and synthetic
sources are written as CSV. The raw file and its manifest only replace earlier ones once the new
data has been read back successfully.
"""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from fraudstream import __version__
from fraudstream.data.config import DataSourceConfig
from fraudstream.data.manifest import MANIFEST_NAME, RAW_FILE_NAME, IngestManifest
from fraudstream.data.sources import (
    ProgressCallback,
    SourceKind,
    classify_source,
    describe_source,
    download,
    read_sql,
    verify_checksum,
)
from fraudstream.data.synthetic import generate_customers
from fraudstream.errors import IngestionError
from fraudstream.io import atomic_paths, sha256_file

logger = logging.getLogger(__name__)

_SNIFF_BYTES = 8192


def read_raw(path: Path) -> pd.DataFrame:
    """Read a raw Telco CSV as pandas infers it, rejecting files that hold no usable table.

    Raises:
        IngestionError: the file is empty, has only a header, or is not CSV text.
    """
    return _read_table(path, str(path))


def _read_table(path: Path, shown: str) -> pd.DataFrame:
    # ``shown`` names the file in errors: ingestion reads a temp copy the user never sees.
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if not head.strip():
        msg = f"{shown} is empty: expected a CSV file with a header row and at least one customer"
        raise IngestionError(msg)
    if head.startswith(b"PAR1") or b"\x00" in head:
        msg = f"{shown} is binary, not CSV text: export the data as CSV (or name a .parquet file with that suffix)"
        raise IngestionError(msg)
    try:
        frame = pd.read_csv(path)
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        msg = f"{shown} is not readable as UTF-8 CSV ({type(exc).__name__}: {exc}); check the file format"
        raise IngestionError(msg) from exc
    if frame.empty:
        msg = f"{shown} has a header but no rows: expected at least one customer record"
        raise IngestionError(msg)
    return frame


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        msg = f"{path} is not a readable Parquet file ({exc}); check the file or export it as CSV"
        raise IngestionError(msg) from exc


def _frame_from_source(
    source: str, config: DataSourceConfig, progress: ProgressCallback | None
) -> pd.DataFrame:
    kind = classify_source(source)
    if kind is SourceKind.SYNTHETIC:
        synthetic = config.synthetic
        return generate_customers(
            synthetic.n_rows, seed=synthetic.seed, blank_total_charges=synthetic.blank_total_charges
        )
    if kind is SourceKind.SQL:
        return read_sql(source, config.sql_query, config.sql_table, progress)
    return _read_parquet(Path(source))


def _source_details(
    source: str, config: DataSourceConfig
) -> dict[str, str | int | float | bool | None]:
    kind = classify_source(source)
    if kind is SourceKind.SYNTHETIC:
        return {f"synthetic_{k}": v for k, v in config.synthetic.model_dump().items()}
    if kind is SourceKind.SQL:
        return {"sql_query": config.sql_query, "sql_table": config.sql_table}
    return {}


def _stage_bytes(
    source: str, tmp: Path, config: DataSourceConfig, progress: ProgressCallback | None
) -> bool:
    """Put the source's raw bytes or rows at ``tmp``; return whether a checksum was verified."""
    kind = classify_source(source)
    expected = config.checksums.get(source)
    if kind is SourceKind.URL:
        return verify_checksum(download(source, tmp, config.download, progress), expected, source)
    path = Path(source)
    if kind is SourceKind.FILE and path.is_dir():
        msg = f"source {path} is a folder: name the CSV or Parquet file inside it"
        raise IngestionError(msg)
    if kind is SourceKind.FILE and not path.is_file():
        msg = f"source file {path} does not exist: check the path (relative paths start at {Path.cwd()})"
        raise IngestionError(msg)
    if kind is SourceKind.FILE and path.suffix.lower() != ".parquet":
        try:
            shutil.copyfile(path, tmp)
        except PermissionError as exc:
            msg = f"cannot read {path}: permission denied; make the file readable for this user"
            raise IngestionError(msg) from exc
        return verify_checksum(sha256_file(tmp), expected, source)
    frame = _frame_from_source(source, config, progress)
    if frame.empty:
        msg = f"{describe_source(source)} returned no rows: expected at least one customer record"
        raise IngestionError(msg)
    frame.to_csv(tmp, index=False)
    return (
        verify_checksum(sha256_file(path), expected, source) if kind is SourceKind.FILE else False
    )


def ingest_data(
    source: str,
    destination: Path,
    config: DataSourceConfig | None = None,
    progress: ProgressCallback | None = None,
) -> IngestManifest:
    """Ingest ``source`` into the folder ``destination`` and return the manifest written there.

    ``destination/customers.csv`` and ``destination/manifest.json`` are replaced only after the
    new data has been fetched, checksum-verified and read back as a non-empty table.

    Args:
        source: An ``https://`` URL, a CSV or Parquet path, a SQLAlchemy URL or ``synthetic``.
        destination: The raw-data folder (``data/raw``).
        config: Checksums, SQL query, generator and download settings; defaults when omitted.
        progress: Optional callback for bytes or rows done.

    Raises:
        IngestionError: the source is unreadable, unreachable, empty or fails its checksum.
    """
    config = config or DataSourceConfig()
    raw_path = destination / RAW_FILE_NAME
    with atomic_paths(raw_path, destination / MANIFEST_NAME) as (tmp, manifest_tmp):
        verified = _stage_bytes(source, tmp, config, progress)
        frame = _read_table(tmp, describe_source(source))
        digest = sha256_file(tmp)
        details = _source_details(source, config)
        # Provenance: a local copy whose bytes equal a pinned source is that source's data.
        known = [name for name, pinned in config.checksums.items() if pinned == digest]
        if known:
            details["same_bytes_as"] = describe_source(known[0])
        manifest = IngestManifest(
            source=describe_source(source),
            source_kind=classify_source(source).value,
            file=RAW_FILE_NAME,
            sha256=digest,
            checksum_verified=verified,
            rows=len(frame),
            columns=[str(c) for c in frame.columns],
            bytes=tmp.stat().st_size,
            ingested_at=datetime.now(UTC),
            fraudstream_version=__version__,
            details=details,
        )
        manifest_tmp.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    logger.info(
        "ingested raw data",
        extra={"source": manifest.source, "rows": manifest.rows, "sha256": manifest.sha256},
    )
    return manifest


__all__ = ["ingest_data", "read_raw"]
