"""Loading the served model: from the registry alias or a local bundle, warmed up once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from churnguard.api.config import ServingConfig
from churnguard.api.schemas import EXAMPLE_CUSTOMER, CustomerRecord, ModelInfoOut
from churnguard.data.schema import CATEGORIES, FEATURE_COLUMNS, FLOAT_COLUMNS, INTEGER_COLUMNS
from churnguard.errors import ChurnguardError
from churnguard.models.config import MlflowConfig
from churnguard.models.predict import ChurnScorer
from churnguard.models.tracking import configure_mlflow, load_model

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedModel:
    """A loaded, warmed-up model and what the API reports about it."""

    scorer: ChurnScorer
    info: ModelInfoOut


@dataclass
class ModelHolder:
    """The model slot of the app: a served model, or why there is none."""

    served: ServedModel | None = None
    reason: str | None = "not loaded yet"


def records_frame(records: list[CustomerRecord]) -> pd.DataFrame:
    """Validated records → a frame with the processed dtypes the model was trained on."""
    frame = pd.DataFrame.from_records([record.model_dump() for record in records])
    for column in INTEGER_COLUMNS:
        frame[column] = frame[column].astype("int64")
    for column in FLOAT_COLUMNS:
        frame[column] = frame[column].astype("float64")
    for column in CATEGORIES:
        frame[column] = frame[column].astype("str")
    return frame[["customerID", *FEATURE_COLUMNS]]


def _registry_details(
    model_uri: str,
) -> tuple[str | None, str | None, str | None, str | None, dict[str, float]]:
    if not model_uri.startswith("models:/") or "@" not in model_uri:
        return None, None, None, None, {}
    name, alias = model_uri.removeprefix("models:/").split("@", 1)
    version = MlflowClient().get_model_version_by_alias(name, alias)
    metrics = {
        k.removeprefix("metric."): float(v)
        for k, v in version.tags.items()
        if k.startswith("metric.")
    }
    return name, str(version.version), alias, version.run_id, metrics


def load_served_model(serving: ServingConfig, tracking: MlflowConfig) -> ServedModel:
    """Load, warm up and describe the configured model.

    Raises:
        ChurnguardError: the registry is unreachable or the model cannot be loaded safely.
        MlflowException: the alias or model does not exist.
    """
    if serving.model_uri.startswith("models:/"):
        configure_mlflow(tracking)
    loaded = load_model(serving.model_uri)
    threshold = float(loaded.metadata.get("threshold", 0.5))
    scorer = ChurnScorer(loaded.model, threshold)
    scorer.score(records_frame([CustomerRecord.model_validate(EXAMPLE_CUSTOMER)]))  # warm-up
    name, version, alias, run_id, metrics = _registry_details(serving.model_uri)
    info = ModelInfoOut(
        name=name,
        version=version,
        alias=alias,
        model_uri=serving.model_uri,
        run_id=run_id,
        data_sha256=loaded.metadata.get("data_sha256"),
        estimator=loaded.metadata.get("estimator"),
        calibration=loaded.metadata.get("calibration"),
        threshold=threshold,
        metrics=metrics,
        loaded_at=datetime.now(UTC).isoformat(),
    )
    return ServedModel(scorer=scorer, info=info)


def try_load(serving: ServingConfig, tracking: MlflowConfig) -> ModelHolder:
    """Load the model; on failure keep the machine-readable reason for ``/ready``."""
    try:
        served = load_served_model(serving, tracking)
    except MlflowException as exc:
        reason = f"no model at {serving.model_uri}: {exc.message.splitlines()[0]}"
    except ChurnguardError as exc:
        reason = str(exc)
    else:
        logger.info(
            "model loaded", extra={"model_uri": serving.model_uri, "version": served.info.version}
        )
        return ModelHolder(served=served, reason=None)
    logger.warning("no model loaded", extra={"reason": reason})
    return ModelHolder(served=None, reason=reason)


__all__ = ["ModelHolder", "ServedModel", "load_served_model", "records_frame", "try_load"]
