"""The drift reference: what it keeps, its file, and how it travels from training to serving."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from churnguard.api.config import ServingConfig
from churnguard.api.state import load_drift_reference, load_served_model
from churnguard.config import ChurnguardConfig
from churnguard.data.preprocess import coerce_types, preprocess_data
from churnguard.data.schema import CATEGORIES, FEATURE_COLUMNS
from churnguard.data.synthetic import generate_customers
from churnguard.io import write_model_json, write_text_atomic
from churnguard.models.bundle import export_bundle, registry_record
from churnguard.models.estimators import build_model_pipeline
from churnguard.models.registry import register_challenger
from churnguard.models.run import train_and_log
from churnguard.models.tracking import configure_mlflow, log_model
from churnguard.monitoring.config import MonitoringConfig
from churnguard.monitoring.drift import detect_drift
from churnguard.monitoring.reference import (
    DRIFT_CATEGORICAL_FEATURES,
    DRIFT_NUMERIC_FEATURES,
    DRIFT_REFERENCE_FILE,
    DriftReferenceError,
    MonitoringInputError,
    build_drift_reference,
    read_drift_reference,
)


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    """4,000 processed synthetic customers."""
    return coerce_types(generate_customers(4000, seed=3))


@pytest.mark.unit
def test_every_feature_has_a_reference_of_its_kind(train: pd.DataFrame) -> None:
    reference = build_drift_reference(train, np.linspace(0.01, 0.99, 500))
    assert set(reference.numeric) | set(reference.categorical) == set(FEATURE_COLUMNS)
    assert set(reference.numeric) == {"tenure", "MonthlyCharges", "TotalCharges"}
    assert reference.categorical["SeniorCitizen"].shares == pytest.approx(
        {"0": 1 - train["SeniorCitizen"].mean(), "1": train["SeniorCitizen"].mean()}
    )
    assert reference.n_rows == len(train)
    assert reference.prediction is not None
    assert reference.prediction.count == 500


@pytest.mark.unit
@pytest.mark.parametrize("column", DRIFT_NUMERIC_FEATURES)
def test_numeric_bins_are_observed_quantiles_and_never_empty(
    train: pd.DataFrame, column: str
) -> None:
    reference = build_drift_reference(train, None, bins=10).numeric[column]
    values = train[column].to_numpy()
    assert len(reference.edges) <= 9
    assert set(reference.edges) <= set(values)
    assert min(reference.shares) > 0
    expected = [  # right-closed bins
        np.mean(values <= reference.edges[0]),
        *[
            np.mean((values > lo) & (values <= hi))
            for lo, hi in zip(reference.edges, reference.edges[1:], strict=False)
        ],
        np.mean(values > reference.edges[-1]),
    ]
    assert reference.shares == pytest.approx(expected)


@pytest.mark.unit
def test_a_discrete_column_gets_an_exact_ecdf_and_a_continuous_one_a_compressed_ecdf(
    train: pd.DataFrame,
) -> None:
    reference = build_drift_reference(train, None, ecdf_points=100)
    tenure, monthly = reference.numeric["tenure"], reference.numeric["MonthlyCharges"]
    assert tenure.exact_ecdf
    assert tenure.ecdf_values == sorted(train["tenure"].unique().astype(float))
    assert not monthly.exact_ecdf
    assert len(monthly.ecdf_values) <= 100
    values = train["MonthlyCharges"].to_numpy()
    assert monthly.ecdf_values[0] == values.min()
    assert monthly.ecdf_values[-1] == values.max()
    assert monthly.ecdf_cdf == pytest.approx([np.mean(values <= v) for v in monthly.ecdf_values])


@pytest.mark.unit
def test_categories_list_every_expected_value_then_unexpected_ones(train: pd.DataFrame) -> None:
    frame = train.copy()
    frame["Contract"] = frame["Contract"].replace({"Two year": "One year"})
    frame.loc[:9, "PaymentMethod"] = "Voucher"
    reference = build_drift_reference(frame, None)
    assert list(reference.categorical["Contract"].shares) == list(CATEGORIES["Contract"])
    assert reference.categorical["Contract"].shares["Two year"] == 0.0
    payment = reference.categorical["PaymentMethod"].shares
    assert list(payment) == [*CATEGORIES["PaymentMethod"], "Voucher"]
    assert payment["Voucher"] == pytest.approx(10 / len(frame))
    assert set(DRIFT_CATEGORICAL_FEATURES) == set(reference.categorical)


@pytest.mark.unit
def test_a_constant_column_gets_one_bin_holding_everything(train: pd.DataFrame) -> None:
    frame = train.assign(tenure=12)
    tenure = build_drift_reference(frame, None).numeric["tenure"]
    assert (tenure.edges, tenure.shares, tenure.ecdf_cdf) == ([12.0], [1.0, 0.0], [1.0])


@pytest.mark.unit
def test_the_reference_round_trips_through_its_file(train: pd.DataFrame, tmp_path: Path) -> None:
    reference = build_drift_reference(train, np.full(100, 0.2))
    path = tmp_path / DRIFT_REFERENCE_FILE
    write_model_json(path, reference)
    assert read_drift_reference(path) == reference


@pytest.mark.unit
def test_a_missing_reference_file_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(DriftReferenceError, match=r"cannot read the drift reference .* train"):
        read_drift_reference(tmp_path / DRIFT_REFERENCE_FILE)


def _without_tenure(document: dict[str, Any]) -> str:
    del document["numeric"]["tenure"]
    return json.dumps(document)


def _shares_summing_to(document: dict[str, Any]) -> str:
    document["categorical"]["Contract"]["shares"]["One year"] = 0.5
    return json.dumps(document)


def _unsorted_edges(document: dict[str, Any]) -> str:
    document["numeric"]["tenure"]["edges"] = [5.0, 1.0]
    return json.dumps(document)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda doc: "{not json", "the document: Invalid JSON"),
        (_without_tenure, "numeric must hold"),
        (_shares_summing_to, "categorical.Contract: .*sum to 1"),
        (_unsorted_edges, "numeric.tenure: .*increase strictly"),
        (lambda doc: json.dumps(doc | {"unexpected": 1}), "unexpected: Extra inputs"),
    ],
    ids=["not-json", "missing-feature", "shares-not-summing-to-1", "unsorted-edges", "extra-key"],
)
def test_an_invalid_reference_file_is_a_clear_error(
    train: pd.DataFrame, tmp_path: Path, edit: Callable[[dict[str, Any]], str], where: str
) -> None:
    document = json.loads(build_drift_reference(train, None).model_dump_json())
    path = tmp_path / DRIFT_REFERENCE_FILE
    write_text_atomic(path, edit(document))
    with pytest.raises(DriftReferenceError, match=f"not a valid drift reference .*{where}"):
        read_drift_reference(path)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("frame_change", "probabilities", "message"),
    [
        (lambda f: f.iloc[0:0], None, "empty frame"),
        (lambda f: f.drop(columns="tenure"), None, r"lacks the column\(s\) \['tenure'\]"),
        (lambda f: f.assign(MonthlyCharges="cheap"), None, "'MonthlyCharges' must be numeric"),
        (lambda f: f.assign(Partner=np.nan), None, "'Partner' must hold text"),
        (lambda f: f, np.array([0.2, 1.2]), r"outside \[0, 1\]"),
        (lambda f: f, np.array([]), "not empty"),
        (lambda f: f, np.ones((3, 2)) / 2, r"1-D.*predict_proba\(frame\)\[:, 1\]"),
        (lambda f: f, ["low", "high"], "must be numbers"),
    ],
    ids=[
        "empty",
        "missing-column",
        "text-number",
        "float-category",
        "probability-above-1",
        "no-probabilities",
        "2-d-probabilities",
        "text-probabilities",
    ],
)
def test_bad_reference_inputs_are_clear_errors(
    train: pd.DataFrame, frame_change: object, probabilities: object, message: str
) -> None:
    frame = frame_change(train.head(200).copy())  # type: ignore[operator]
    with pytest.raises(MonitoringInputError, match=message):
        build_drift_reference(frame, probabilities)  # type: ignore[arg-type]


@pytest.mark.unit
@pytest.mark.parametrize(("bins", "points"), [(1, 256), (101, 256), (10, 1)])
def test_out_of_range_bin_settings_are_refused(train: pd.DataFrame, bins: int, points: int) -> None:
    with pytest.raises(MonitoringInputError, match="bins must be 2-100 and ecdf_points"):
        build_drift_reference(train, None, bins=bins, ecdf_points=points)


@pytest.mark.integration
def test_the_real_test_split_does_not_drift_from_the_real_train_split(
    real_data_path: Path,
) -> None:
    splits = preprocess_data(pd.read_csv(real_data_path))
    reference = build_drift_reference(splits.train, None)
    report = detect_drift(reference, splits.test, MonitoringConfig())
    assert report.status == "ok"
    assert report.drifted_features == []


# -- the hooks: training logs it, export copies it, serving loads it ---------------------------


@pytest.fixture
def mlflow_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ChurnguardConfig]:
    """A private sqlite MLflow store and a small, fast model configuration."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(name, raising=False)
    yield ChurnguardConfig.model_validate(
        {
            "mlflow": {
                "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
                "artifact_location": str(tmp_path / "mlruns"),
            },
            "model": {
                "estimator": "lightgbm",
                "cv_folds": 3,
                "calibration": "none",
                "lightgbm": {"n_estimators": 20},
            },
        }
    )
    mlflow.set_tracking_uri("")
    mlflow.set_registry_uri("")


@pytest.mark.integration
def test_training_logs_the_reference_and_it_reaches_the_bundle_and_the_served_model(
    mlflow_project: ChurnguardConfig, tmp_path: Path
) -> None:
    config = mlflow_project
    splits = preprocess_data(generate_customers(1500, seed=8))
    _, result = train_and_log(config, splits, "ab" * 32)
    client = MlflowClient()
    assert DRIFT_REFERENCE_FILE in {a.path for a in client.list_artifacts(result.run_id)}
    model_dir = Path(mlflow.artifacts.download_artifacts(result.model_uri, dst_path=str(tmp_path)))
    logged = read_drift_reference(model_dir / DRIFT_REFERENCE_FILE)
    assert logged.n_rows == len(splits.train)
    assert logged.prediction is not None
    assert logged.prediction.count == len(splits.test)

    register_challenger(result.model_uri, result.run_id, result.metrics, "ab" * 32, config)
    record = registry_record(config.registry.model_name, "challenger")
    from_registry = load_drift_reference(f"models:/{record.name}/{record.version}", record)
    assert from_registry == logged

    bundle = tmp_path / "bundle"
    export_bundle(f"models:/{config.registry.model_name}@challenger", bundle)
    assert read_drift_reference(bundle / DRIFT_REFERENCE_FILE) == logged
    served = load_served_model(ServingConfig(model_uri=str(bundle)), config.mlflow)
    assert served.drift_reference == logged


@pytest.mark.integration
def test_export_takes_the_reference_from_the_run_when_the_model_folder_lacks_it(
    mlflow_project: ChurnguardConfig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = mlflow_project
    splits = preprocess_data(generate_customers(800, seed=9))
    model = build_model_pipeline(config.features, config.model)
    model.fit(splits.train, splits.train["Churn"])
    reference = build_drift_reference(splits.train, model.predict_proba(splits.test)[:, 1])
    write_model_json(tmp_path / DRIFT_REFERENCE_FILE, reference)
    configure_mlflow(config.mlflow)
    with mlflow.start_run() as run:  # an older run: the reference is only a run artifact
        info = log_model(model, splits.train[list(FEATURE_COLUMNS)], {"threshold": 0.5})
        mlflow.log_artifact(str(tmp_path / DRIFT_REFERENCE_FILE))
    register_challenger(info.model_uri, run.info.run_id, {}, "cd" * 32, config)
    bundle = tmp_path / "bundle"
    export_bundle(f"models:/{config.registry.model_name}@challenger", bundle)
    assert read_drift_reference(bundle / DRIFT_REFERENCE_FILE) == reference

    (bundle / DRIFT_REFERENCE_FILE).write_text("{}", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="churnguard.api.state"):
        served = load_served_model(ServingConfig(model_uri=str(bundle)), config.mlflow)
    assert served.drift_reference is None  # an unreadable reference never fails the load
    assert "no drift reference" in caplog.text
    (bundle / DRIFT_REFERENCE_FILE).unlink()
    assert load_drift_reference(str(bundle), None) is None
