"""The data-pipeline stages: ingest → validate → features.

Each stage reads its inputs from the paths in the configuration, calls pure functions, and writes
its outputs atomically. A stage refuses inputs its predecessor did not vouch for (features of
data whose validation failed, or of data changed since), so a failure never overwrites what a
downstream stage produced from good data.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from fraudstream.config import FraudstreamConfig
from fraudstream.errors import DataValidationError, PipelineStateError
from fraudstream.feature_store import compute_features
from fraudstream.io import atomic_paths, sha256_file, write_frame
from fraudstream.training.ingest import ingest_transactions
from fraudstream.training.manifest import IngestManifest, read_manifest
from fraudstream.training.sources import ProgressCallback
from fraudstream.training.summary import DataSummary, summarize_build
from fraudstream.transactions.files import read_transaction_file
from fraudstream.transactions.labels import with_label_times
from fraudstream.transactions.report import ValidationReport, format_report, validation_error
from fraudstream.transactions.validate import validate_transactions

logger = logging.getLogger(__name__)

VALIDATION_JSON = "validation.json"
VALIDATION_TEXT = "validation.txt"
TRANSACTIONS_FILE = "transactions.parquet"
FEATURES_FILE = "features.parquet"
FEATURES_SUMMARY = "features.json"


def run_ingest(
    config: FraudstreamConfig, source: str | None = None, progress: ProgressCallback | None = None
) -> IngestManifest:
    """Ingest ``source`` (default: ``data.source``) into ``paths.raw_dir``."""
    return ingest_transactions(
        source or config.data.source,
        config.paths.raw_dir,
        config.data,
        config.simulator,
        progress,
    )


def _current_raw(config: FraudstreamConfig) -> tuple[IngestManifest, Path]:
    manifest = read_manifest(config.paths.raw_dir)
    raw_path = config.paths.raw_dir / manifest.file
    if not raw_path.is_file() or sha256_file(raw_path) != manifest.sha256:
        msg = f"{raw_path} is missing or changed since it was ingested: run `fraudstream ingest` again"
        raise PipelineStateError(msg)
    return manifest, raw_path


def run_validate(config: FraudstreamConfig) -> ValidationReport:
    """Validate the last ingested file; write the reports and, if it passed, the typed file.

    Raises:
        DataValidationError: any rule failed; the reports say which, nothing else is written.
    """
    manifest, raw_path = _current_raw(config)
    result = validate_transactions(read_transaction_file(raw_path), config.validation.max_examples)
    report = result.report.model_copy(update={"raw_sha256": manifest.sha256})
    reports = config.paths.reports_dir
    with atomic_paths(reports / VALIDATION_JSON, reports / VALIDATION_TEXT) as (json_tmp, text_tmp):
        json_tmp.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
        text_tmp.write_text(format_report(report), encoding="utf-8")
    logger.info(
        "validated transactions", extra={"rows": report.rows, "failures": len(report.failures)}
    )
    if result.frame is None:
        raise DataValidationError(
            validation_error(report, str(raw_path), reports / VALIDATION_TEXT)
        )
    typed = with_label_times(result.frame, config.validation.default_label_delay_days)
    with atomic_paths(config.paths.processed_dir / TRANSACTIONS_FILE) as (tmp,):
        write_frame(tmp, typed, "parquet")
    return report


def _processed(config: FraudstreamConfig) -> Path:
    path = config.paths.processed_dir / TRANSACTIONS_FILE
    report_path = config.paths.reports_dir / VALIDATION_JSON
    if not path.is_file() or not report_path.is_file():
        msg = f"{path} is missing: run `fraudstream validate` (after `fraudstream ingest`) first"
        raise PipelineStateError(msg)
    manifest, _ = _current_raw(config)
    report = ValidationReport.model_validate_json(report_path.read_text(encoding="utf-8"))
    if not report.passed or report.raw_sha256 != manifest.sha256:
        msg = "the ingested data has not passed validation: run `fraudstream validate` and fix what it reports"
        raise PipelineStateError(msg)
    return path


def run_features(config: FraudstreamConfig) -> DataSummary:
    """Compute every declared feature of the validated transactions, point in time."""
    path = _processed(config)
    frame = pd.read_parquet(path)
    features = compute_features(frame)
    summary = summarize_build(frame, [str(c) for c in features.columns[1:]], sha256_file(path))
    out = config.paths.features_dir
    with atomic_paths(out / FEATURES_FILE, out / FEATURES_SUMMARY) as (features_tmp, summary_tmp):
        write_frame(features_tmp, features, "parquet")
        summary_tmp.write_text(summary.model_dump_json(indent=2) + "\n", encoding="utf-8")
    logger.info(
        "built features",
        extra={"rows": summary.transactions.rows, "features": len(summary.features)},
    )
    return summary


__all__ = [
    "FEATURES_FILE",
    "FEATURES_SUMMARY",
    "TRANSACTIONS_FILE",
    "run_features",
    "run_ingest",
    "run_validate",
]
