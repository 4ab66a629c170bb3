from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from churnguard.config import ChurnguardConfig
from churnguard.data.schema import ID_COLUMN
from churnguard.errors import DataValidationError, PipelineStateError
from churnguard.features import ReferenceProfile
from churnguard.io import sha256_file
from churnguard.jobs.data import (
    load_split,
    run_build_features,
    run_ingest,
    run_preprocess,
    run_validate,
)

pytestmark = pytest.mark.unit


def _run_all(config: ChurnguardConfig, source: str | None = None) -> None:
    run_ingest(config, source)
    run_validate(config)
    run_preprocess(config)
    run_build_features(config)


def _downstream(config: ChurnguardConfig) -> dict[str, str]:
    folders = [config.paths.processed_dir, config.paths.features_dir, config.paths.reports_dir]
    return {str(p): sha256_file(p) for folder in folders for p in sorted(folder.iterdir())}


def test_the_stages_chain_from_ingest_to_features(project_config: ChurnguardConfig) -> None:
    _run_all(project_config)
    paths = project_config.paths
    assert json.loads((paths.reports_dir / "validation.json").read_text())["passed"] is True
    assert (paths.reports_dir / "validation.txt").read_text().startswith("Validation PASSED")
    summary = json.loads((paths.processed_dir / "summary.json").read_text())
    assert sum(summary["rows"].values()) == 400
    assert summary["raw_sha256"] == sha256_file(paths.raw_dir / "customers.csv")
    profile = ReferenceProfile.model_validate_json(
        (paths.features_dir / "reference_profile.json").read_text()
    )
    assert profile.n_rows == summary["rows"]["train"]
    features = pd.read_parquet(paths.features_dir / "train_features.parquet")
    assert len(features) == summary["rows"]["train"]
    assert features.notna().all().all()


def test_load_split_returns_the_processed_frame(project_config: ChurnguardConfig) -> None:
    _run_all(project_config)
    train = load_split(project_config, "train")
    assert train[ID_COLUMN].is_unique
    assert set(train["Churn"].unique()) <= {0, 1}


def test_failed_validation_leaves_downstream_outputs_untouched(
    project_config: ChurnguardConfig, tmp_path: Path, raw_customers: pd.DataFrame
) -> None:
    _run_all(project_config)
    before = _downstream(project_config)
    bad = raw_customers.copy()
    bad.loc[0, "Contract"] = "Weekly"
    bad_path = tmp_path / "bad.csv"
    bad.to_csv(bad_path, index=False)
    run_ingest(project_config, str(bad_path))
    with pytest.raises(DataValidationError, match=r"'Weekly' \(row 1\)") as caught:
        run_validate(project_config)
    assert "Nothing downstream was changed" in str(caught.value)
    after = _downstream(project_config)
    changed = {p for p in before if before[p] != after[p]}
    assert changed == {
        str(project_config.paths.reports_dir / "validation.json"),
        str(project_config.paths.reports_dir / "validation.txt"),
    }
    with pytest.raises(PipelineStateError, match="failed validation"):
        run_preprocess(project_config)
    assert _downstream(project_config) == after


def test_preprocess_refuses_data_that_was_never_validated(project_config: ChurnguardConfig) -> None:
    run_ingest(project_config)
    with pytest.raises(PipelineStateError, match="run `churnguard validate`"):
        run_preprocess(project_config)


def test_preprocess_refuses_a_report_for_older_data(project_config: ChurnguardConfig) -> None:
    run_ingest(project_config)
    run_validate(project_config)
    config = project_config.model_validate(
        {
            **project_config.model_dump(),
            "data": {**project_config.data.model_dump(), "synthetic": {"n_rows": 300}},
        }
    )
    run_ingest(config)
    with pytest.raises(PipelineStateError, match="other data"):
        run_preprocess(config)


def test_validate_without_ingest_says_to_ingest_first(project_config: ChurnguardConfig) -> None:
    with pytest.raises(PipelineStateError, match="run `churnguard ingest` first"):
        run_validate(project_config)


def test_validate_notices_a_raw_file_changed_after_ingest(project_config: ChurnguardConfig) -> None:
    run_ingest(project_config)
    raw = project_config.paths.raw_dir / "customers.csv"
    raw.write_text(raw.read_text() + "\n")
    with pytest.raises(PipelineStateError, match="changed since it was ingested"):
        run_validate(project_config)


def test_a_corrupt_manifest_is_a_clear_error(project_config: ChurnguardConfig) -> None:
    run_ingest(project_config)
    (project_config.paths.raw_dir / "manifest.json").write_text("{not json")
    with pytest.raises(PipelineStateError, match="not a valid ingestion manifest"):
        run_validate(project_config)


def test_build_features_needs_the_processed_split(project_config: ChurnguardConfig) -> None:
    with pytest.raises(PipelineStateError, match="run `churnguard preprocess` first"):
        run_build_features(project_config)


@pytest.mark.integration
def test_real_data_runs_through_every_stage(
    project_config: ChurnguardConfig, real_data_path: Path
) -> None:
    _run_all(project_config, str(real_data_path))
    report = json.loads((project_config.paths.reports_dir / "validation.json").read_text())
    assert (report["rows"], report["failures"], report["handled_quirks"]) == (
        7043,
        [],
        {"blank_total_charges": 11},
    )
    train = load_split(project_config, "train")
    assert len(train) == 4929
    assert train["TotalCharges"].notna().all()


def test_a_corrupt_validation_report_is_a_clear_error(project_config: ChurnguardConfig) -> None:
    run_ingest(project_config)
    run_validate(project_config)
    (project_config.paths.reports_dir / "validation.json").write_text("[]")
    with pytest.raises(PipelineStateError, match="not a valid validation report"):
        run_preprocess(project_config)
