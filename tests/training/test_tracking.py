"""MLflow tracking: logging fraud models with their metadata and loading them back safely.

A model is only ever loaded as skops with fraudstream's own allow-list, when its file has the
expected sha256 and when it was trained on the feature declaration this fraudstream computes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from pydantic import ValidationError
from registry_fixtures import (
    ALERT_BUDGET_K,
    TEST_WINDOW,
    RegistryStore,
    fit_candidate,
    fraud_probability,
    make_splits,
    metadata_for,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from fraudstream.feature_store import FEATURE_NAMES, definition_version
from fraudstream.training import model_metadata
from fraudstream.training.model_metadata import FeatureDefinitionMismatchError, ModelMetadata
from fraudstream.training.registry import register_challenger
from fraudstream.training.registry_config import MlflowConfig, RegistrySettings
from fraudstream.training.serialization import ModelLoadError, check_trusted, load_local_estimator
from fraudstream.training.tracking import (
    TrackingUnavailableError,
    config_hash,
    configure_mlflow,
    load_model,
    log_model,
    provenance_tags,
)

pytestmark = [
    # MLflow 3.17's sqlite store uses SQLAlchemy's ``noload`` loader strategy, deprecated in
    # SQLAlchemy 2.1; it warns once, when the store module is first imported.
    pytest.mark.filterwarnings(
        "ignore:The ``noload`` loader strategy:sqlalchemy.exc.SADeprecationWarning"
    ),
]


def _identity(x: Any) -> Any:
    return x


@pytest.fixture(scope="module")
def logistic() -> tuple[Any, ModelMetadata]:
    """A fitted logistic candidate and its metadata (for models saved outside a store)."""
    splits = make_splits()
    model = fit_candidate("good", splits)
    return model, metadata_for(model, splits)


def _save(model: Any, metadata: dict[str, Any] | None, folder: Path, **options: Any) -> Path:
    """Save ``model`` as a local MLflow model folder, bypassing fraudstream's checks.

    Explicit requirements spare MLflow inferring them in a subprocess (seconds).
    """
    requirements = ["scikit-learn"]
    mlflow.sklearn.save_model(
        model, str(folder), metadata=metadata, pip_requirements=requirements, **options
    )
    return folder


# --- provenance, configuration ------------------------------------------------------------------


@pytest.mark.unit
def test_provenance_tags_name_data_code_config_and_versions() -> None:
    tags = provenance_tags("ab" * 32, {"split": {"seed": 1}})

    assert tags["data_sha256"] == "ab" * 32
    assert tags["config_hash"] == config_hash({"split": {"seed": 1}})
    assert tags["config_hash"] != config_hash({"split": {"seed": 2}})
    assert {"version.fraudstream", "version.scikit-learn", "version.lightgbm"} <= set(tags)
    assert tags["git_commit"]


@pytest.mark.unit
def test_unreachable_tracking_server_is_one_clear_error() -> None:
    started = time.perf_counter()

    with pytest.raises(TrackingUnavailableError, match="unset it to use the embedded sqlite"):
        configure_mlflow(MlflowConfig(tracking_uri="http://127.0.0.1:9"))

    assert time.perf_counter() - started < 10


@pytest.mark.unit
@pytest.mark.parametrize("window", ["2018-08-14..2018-08-08", "2018-08-08", "last week"])
def test_metadata_rejects_a_malformed_test_window(
    logistic: tuple[Any, ModelMetadata], window: str
) -> None:
    fields = logistic[1].model_dump() | {"test_window": window}

    with pytest.raises(ValidationError, match=r"YYYY-MM-DD\.\.YYYY-MM-DD, first day first"):
        ModelMetadata.model_validate(fields)


# --- logging ------------------------------------------------------------------------------------


@pytest.mark.unit
def test_a_model_with_an_untrusted_type_is_refused_before_logging(
    logistic: tuple[Any, ModelMetadata],
) -> None:
    risky = Pipeline([("passthrough", FunctionTransformer(_identity))])

    with pytest.raises(ModelLoadError, match=r"allow-list: test_tracking\._identity"):
        check_trusted(risky)
    with pytest.raises(ModelLoadError, match="allow-list"):
        log_model(risky, make_splits().train, logistic[1])


@pytest.mark.unit
def test_log_model_refuses_metadata_of_other_features(logistic: tuple[Any, ModelMetadata]) -> None:
    model, metadata = logistic
    stale = metadata.model_copy(update={"feature_definition_version": "0ld0ld0ld0ld"})

    with pytest.raises(FeatureDefinitionMismatchError, match="0ld0ld0ld0ld"):
        log_model(model, make_splits().train, stale)


@pytest.mark.unit
def test_log_model_refuses_an_input_example_without_the_feature_columns(
    logistic: tuple[Any, ModelMetadata],
) -> None:
    model, metadata = logistic
    example = make_splits().train.drop(columns=["TX_AMOUNT"])

    with pytest.raises(ValueError, match=r"lacks feature column.*TX_AMOUNT"):
        log_model(model, example, metadata)


@pytest.mark.unit
def test_log_model_needs_an_active_run(logistic: tuple[Any, ModelMetadata]) -> None:
    model, metadata = logistic
    assert mlflow.active_run() is None

    with pytest.raises(ValueError, match="needs an active MLflow run"):
        log_model(model, make_splits().train, metadata)


# --- round trips --------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("candidate", ["good", "better"])
def test_a_logged_model_round_trips_with_its_metadata_and_predictions(
    settings: RegistrySettings, registry_store: RegistryStore, candidate: str
) -> None:
    configure_mlflow(settings.mlflow)
    estimator, splits = registry_store.estimators[candidate], registry_store.splits

    loaded = load_model(registry_store.models[candidate])

    assert loaded.metadata == metadata_for(estimator, splits)
    assert loaded.metadata.feature_definition_version == definition_version()
    assert loaded.metadata.feature_names == FEATURE_NAMES
    assert (loaded.metadata.alert_budget_k, loaded.metadata.test_window) == (
        ALERT_BUDGET_K,
        TEST_WINDOW,
    )
    assert loaded.threshold == 0.5
    assert loaded.version is None
    assert np.array_equal(
        loaded.predict_proba(splits.test), fraud_probability(estimator, splits.test)
    )
    # The stream's path (a matrix of the model's columns) gives the very same numbers.
    matrix = splits.test.loc[:, list(FEATURE_NAMES)].to_numpy(dtype=np.float64)
    assert np.array_equal(
        loaded.predict_proba_values(matrix), fraud_probability(estimator, splits.test)
    )
    with pytest.raises(ValueError, match=r"lacks column\(s\) TX_AMOUNT"):
        loaded.predict_proba(splits.test.drop(columns=["TX_AMOUNT"]))
    info = mlflow.models.get_model_info(registry_store.models[candidate])
    assert info.signature.inputs.input_names() == list(FEATURE_NAMES)
    assert info.saved_input_example_info is not None


@pytest.mark.integration
def test_a_registered_alias_loads_its_version_checked_against_the_recorded_hash(
    settings: RegistrySettings, registry_store: RegistryStore
) -> None:
    version = register_challenger(registry_store.models["good"], settings)

    loaded = load_model("models:/fraudstream@challenger")

    assert loaded.version == version
    tags = MlflowClient().get_model_version("fraudstream", str(version)).tags
    assert loaded.model_sha256 == tags["model_sha256"]
    assert load_model(registry_store.models["good"], expected_sha256=loaded.model_sha256)


@pytest.mark.integration
def test_a_model_file_with_another_hash_is_refused(
    settings: RegistrySettings, registry_store: RegistryStore
) -> None:
    version = register_challenger(registry_store.models["good"], settings)
    MlflowClient().set_model_version_tag("fraudstream", str(version), "model_sha256", "0" * 64)

    with pytest.raises(ModelLoadError, match=f"expected {'0' * 64}; the artifact was changed"):
        load_model(f"models:/fraudstream/{version}")
    with pytest.raises(ModelLoadError, match="the artifact was changed or corrupted"):
        load_model(registry_store.models["good"], expected_sha256="f" * 64)


@pytest.mark.integration
def test_load_refuses_a_model_of_another_feature_definition_and_says_what_to_do(
    settings: RegistrySettings, registry_store: RegistryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_mlflow(settings.mlflow)
    trained_on = definition_version()
    monkeypatch.setattr(model_metadata, "definition_version", lambda: "c0ffeec0ffee")

    with pytest.raises(FeatureDefinitionMismatchError) as refused:
        load_model(registry_store.models["good"])

    message = str(refused.value)
    assert f"trained on feature definition {trained_on}" in message
    assert "computes feature definition c0ffeec0ffee" in message
    assert "Retrain the model with this fraudstream" in message
    assert "fraudstream version whose feature definition matches" in message
    assert refused.value.exit_code == 7


@pytest.mark.integration
def test_loading_an_alias_nobody_holds_is_a_model_load_error(settings: RegistrySettings) -> None:
    configure_mlflow(settings.mlflow)

    with pytest.raises(ModelLoadError, match="fraudstream models list"):
        load_model("models:/fraudstream@champion")


# --- unsafe or foreign models -------------------------------------------------------------------


@pytest.mark.unit
def test_a_pickled_model_is_never_loaded(
    tmp_path: Path, logistic: tuple[Any, ModelMetadata]
) -> None:
    model, metadata = logistic
    folder = _save(
        model, metadata.model_dump(mode="json"), tmp_path / "m", serialization_format="cloudpickle"
    )

    with pytest.raises(ModelLoadError, match="only loads skops models"):
        load_model(str(folder))


@pytest.mark.unit
def test_a_skops_model_with_a_type_outside_our_allow_list_is_refused(
    tmp_path: Path, logistic: tuple[Any, ModelMetadata]
) -> None:
    risky = Pipeline([("passthrough", FunctionTransformer(_identity)), *logistic[0].steps])
    # MLflow records the types it was told to trust inside the model; fraudstream ignores that.
    folder = _save(
        risky,
        logistic[1].model_dump(mode="json"),
        tmp_path / "m",
        serialization_format="skops",
        skops_trusted_types=["test_tracking._identity"],
    )

    with pytest.raises(ModelLoadError, match=r"refusing to load .*Untrusted"):
        load_model(str(folder))


@pytest.mark.unit
def test_a_model_without_fraudstream_metadata_is_refused(
    tmp_path: Path, logistic: tuple[Any, ModelMetadata]
) -> None:
    folder = _save(logistic[0], {"threshold": 0.5}, tmp_path / "m", serialization_format="skops")

    with pytest.raises(ModelLoadError, match="no valid fraudstream model metadata"):
        load_model(str(folder))


@pytest.mark.unit
def test_a_folder_that_is_not_a_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not an MLflow scikit-learn model"):
        load_local_estimator(tmp_path)
    with pytest.raises(ModelLoadError, match="not an MLflow scikit-learn model"):
        load_model(str(tmp_path))
