"""The data-pipeline jobs: ingest → validate → preprocess → build features.

Each job reads its inputs from the paths in the configuration, calls one pure stage function, and
writes its outputs atomically. A job refuses to run on inputs its predecessor did not vouch for
(for example, preprocessing data whose validation failed), so a failure never overwrites what a
downstream stage produced from good data.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict

from fraudstream.config import FraudstreamConfig
from fraudstream.data.ingest import ingest_data, read_raw
from fraudstream.data.manifest import IngestManifest, read_manifest
from fraudstream.data.preprocess import SPLIT_NAMES, preprocess_data
from fraudstream.data.report import ValidationReport, format_report
from fraudstream.data.sources import ProgressCallback
from fraudstream.data.validate import validate_data
from fraudstream.errors import DataValidationError, PipelineStateError
from fraudstream.features import build_reference_profile, engineered_feature_frame
from fraudstream.io import atomic_paths, sha256_file, write_frame

logger = logging.getLogger(__name__)

VALIDATION_JSON = "validation.json"
VALIDATION_TEXT = "validation.txt"
SPLIT_SUMMARY = "summary.json"
REFERENCE_PROFILE = "reference_profile.json"
TRAIN_FEATURES = "train_features.parquet"


class SplitSummary(BaseModel):
    """What preprocessing wrote: rows and churn rate per split, and the raw data it came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    raw_sha256: str
    rows: dict[str, int]
    churn_rate: dict[str, float]
    seed: int


def _model_text(model: BaseModel) -> str:
    return model.model_dump_json(indent=2) + "\n"


def run_ingest(
    config: FraudstreamConfig, source: str | None = None, progress: ProgressCallback | None = None
) -> IngestManifest:
    """Ingest ``source`` (default: ``data.source`` of the config) into ``paths.raw_dir``."""
    return ingest_data(source or config.data.source, config.paths.raw_dir, config.data, progress)


def _current_raw(config: FraudstreamConfig) -> tuple[IngestManifest, Path]:
    manifest = read_manifest(config.paths.raw_dir)
    raw_path = config.paths.raw_dir / manifest.file
    if not raw_path.is_file() or sha256_file(raw_path) != manifest.sha256:
        msg = (
            f"{raw_path} is missing or changed since it was ingested: run `fraudstream ingest` again"
        )
        raise PipelineStateError(msg)
    return manifest, raw_path


def run_validate(config: FraudstreamConfig) -> ValidationReport:
    """Validate the last ingested file and write the JSON and text reports.

    Raises:
        DataValidationError: any rule failed; the reports say which, and nothing else is written.
    """
    manifest, raw_path = _current_raw(config)
    report = validate_data(read_raw(raw_path), config.validation).model_copy(
        update={"raw_sha256": manifest.sha256}
    )
    reports = config.paths.reports_dir
    with atomic_paths(reports / VALIDATION_JSON, reports / VALIDATION_TEXT) as (json_tmp, text_tmp):
        json_tmp.write_text(_model_text(report), encoding="utf-8")
        text_tmp.write_text(format_report(report), encoding="utf-8")
    logger.info(
        "validated raw data",
        extra={
            "rows": report.rows,
            "failures": len(report.failures),
            "warnings": len(report.warnings),
        },
    )
    if not report.passed:
        first = report.failures[0]
        msg = (
            f"validation of {raw_path} failed with {len(report.failures)} problem(s); the first: "
            f"{first.message} ({', '.join(first.examples[:3]) or 'no examples'}); fix: {first.fix}. "
            f"Full report: {reports / VALIDATION_TEXT}. Nothing downstream was changed."
        )
        raise DataValidationError(msg)
    return report


def _passed_validation(config: FraudstreamConfig, manifest: IngestManifest) -> None:
    path = config.paths.reports_dir / VALIDATION_JSON
    if not path.is_file():
        msg = f"{path} is missing: run `fraudstream validate` before preprocessing"
        raise PipelineStateError(msg)
    try:
        report = ValidationReport.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        msg = f"{path} is not a valid validation report ({exc.__class__.__name__}): run `fraudstream validate`"
        raise PipelineStateError(msg) from exc
    if report.raw_sha256 != manifest.sha256:
        msg = "the validation report is for other data than the last ingested file: run `fraudstream validate`"
        raise PipelineStateError(msg)
    if not report.passed:
        msg = f"the ingested data failed validation (see {path}); fix the data before preprocessing"
        raise PipelineStateError(msg)


def run_preprocess(config: FraudstreamConfig) -> SplitSummary:
    """Coerce, encode and split the validated raw data into Parquet files."""
    manifest, raw_path = _current_raw(config)
    _passed_validation(config, manifest)
    splits = preprocess_data(read_raw(raw_path), config.split)
    summary = SplitSummary(
        raw_sha256=manifest.sha256,
        rows={name: len(frame) for name, frame in splits.items()},
        churn_rate={
            name: round(float(frame["Churn"].mean()), 6) if len(frame) else 0.0
            for name, frame in splits.items()
        },
        seed=config.split.seed,
    )
    out = config.paths.processed_dir
    targets = [out / f"{name}.parquet" for name in SPLIT_NAMES] + [out / SPLIT_SUMMARY]
    with atomic_paths(*targets) as temps:
        for (_, frame), tmp in zip(splits.items(), temps, strict=False):
            write_frame(tmp, frame, "parquet")
        temps[-1].write_text(_model_text(summary), encoding="utf-8")
    logger.info("preprocessed data", extra={"rows": summary.rows})
    return summary


def load_split(config: FraudstreamConfig, name: str) -> pd.DataFrame:
    """Read one processed split (``train``, ``validation`` or ``test``)."""
    path = config.paths.processed_dir / f"{name}.parquet"
    if not path.is_file():
        msg = f"{path} is missing: run `fraudstream preprocess` first"
        raise PipelineStateError(msg)
    return pd.read_parquet(path)


def run_build_features(config: FraudstreamConfig) -> Path:
    """Fit the feature pipeline on the train split; write its output and the reference profile."""
    train = load_split(config, "train")
    frame = engineered_feature_frame(train, config.features)
    profile = build_reference_profile(train, config.features)
    out = config.paths.features_dir
    with atomic_paths(out / TRAIN_FEATURES, out / REFERENCE_PROFILE) as (features_tmp, profile_tmp):
        write_frame(features_tmp, frame, "parquet")
        profile_tmp.write_text(_model_text(profile), encoding="utf-8")
    logger.info("built features", extra={"features": frame.shape[1], "rows": frame.shape[0]})
    return out / REFERENCE_PROFILE


__all__ = [
    "SplitSummary",
    "load_split",
    "run_build_features",
    "run_ingest",
    "run_preprocess",
    "run_validate",
]
