"""Loading the served model: from the registry alias or a local bundle, verified and warmed up.

The app holds a :class:`ModelHolder`; a reload builds a complete new holder and swaps the
reference in one assignment, so a request that already picked its model finishes on it. The
model's drift reference is loaded with it when it can be (a missing one never fails the load).
"""

from __future__ import annotations

import gc
import logging
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException

from churnguard.api.config import ServingConfig
from churnguard.api.experiment import Experiment, ExperimentMode
from churnguard.api.schemas import EXAMPLE_CUSTOMER, CustomerRecord, ModelInfoOut
from churnguard.data.schema import CATEGORIES, FEATURE_COLUMNS, FLOAT_COLUMNS, INTEGER_COLUMNS
from churnguard.errors import ChurnguardError
from churnguard.models.bundle import ModelRecord, parse_alias_uri, read_manifest, registry_record
from churnguard.models.config import MlflowConfig
from churnguard.models.fastpath import UnsupportedModelError
from churnguard.models.predict import ChurnScorer
from churnguard.models.serialization import ModelLoadError
from churnguard.models.tracking import configure_mlflow, load_model
from churnguard.monitoring.reference import (
    DRIFT_REFERENCE_FILE,
    DriftReference,
    read_drift_reference,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedModel:
    """A loaded, warmed-up model and what the API reports about it.

    ``drift_reference`` is None when the model has none (or it could not be read).
    """

    scorer: ChurnScorer
    info: ModelInfoOut
    load_seconds: float
    drift_reference: DriftReference | None = None

    @property
    def version(self) -> str:
        """The registered version, or ``bundle`` for an unregistered model folder."""
        return self.info.version or "bundle"


@dataclass(frozen=True)
class ModelHolder:
    """The model slot of the app: a served model, or why there is none.

    ``challenger`` is the second model of a shadow or A/B experiment (``experiment``); when it
    could not be loaded, ``challenger_reason`` says why and the experiment runs in ``single``.
    """

    served: ServedModel | None = None
    reason: str | None = "not loaded yet"
    challenger: ServedModel | None = None
    challenger_reason: str | None = None
    experiment: Experiment = field(default_factory=Experiment)


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


def freeze_long_lived() -> None:
    """Keep the cyclic garbage collector off what lives as long as the process.

    Modules, the model and the libraries are ~270k objects; every full collection walks them
    all (~140 ms here, holding the GIL), and a service queueing thousands of records for the
    prediction log triggers full collections often. ``gc.freeze`` moves everything alive now
    into a generation the collector skips (reference counting still frees it). Called after
    startup and after each model reload (unfrozen and collected first, so an old model's
    cycles are not kept).
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def records_columns(records: list[CustomerRecord]) -> dict[str, list[Any]]:
    """Validated records → one list per feature column (the batch fast path, no DataFrame)."""
    return {column: [getattr(r, column) for r in records] for column in FEATURE_COLUMNS}


def resolve_model(serving: ServingConfig, tracking: MlflowConfig) -> tuple[str, ModelRecord | None]:
    """The URI to download (a registry alias pinned to its version) and its record."""
    alias = parse_alias_uri(serving.model_uri)
    if alias is not None:
        configure_mlflow(tracking, experiment=False)
        record = registry_record(*alias)
        return f"models:/{record.name}/{record.version}", record
    if serving.model_uri.startswith(("models:/", "runs:/")):
        configure_mlflow(tracking, experiment=False)
        return serving.model_uri, None
    return serving.model_uri, read_manifest(Path(serving.model_uri))


def _fetch_drift_reference(uri: str, record: ModelRecord | None) -> DriftReference:
    """Read the drift reference of a bundle folder, or download it from the model's run."""
    local = Path(uri)
    if "://" not in uri and ":/" not in uri and local.is_dir():
        return read_drift_reference(local / DRIFT_REFERENCE_FILE)
    run_id = record.run_id if record else None
    if run_id is None and uri.startswith("runs:/"):
        run_id = uri.removeprefix("runs:/").split("/", 1)[0]
    with tempfile.TemporaryDirectory(prefix="churnguard-drift-") as tmp:
        if run_id:
            found = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=DRIFT_REFERENCE_FILE, dst_path=tmp
            )
        else:  # a registry URI without a record: the file travels in the model folder
            found = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{uri.rstrip('/')}/{DRIFT_REFERENCE_FILE}", dst_path=tmp
            )
        return read_drift_reference(Path(found))


def load_drift_reference(uri: str, record: ModelRecord | None) -> DriftReference | None:
    """The drift reference of the model at ``uri``, or None (with a warning) when unavailable.

    A bundle folder holds it; a registry or run model has it among its run's artifacts.
    """
    try:
        return _fetch_drift_reference(uri, record)
    except Exception as exc:  # the reference is optional: nothing about it may fail a model load
        logger.warning(
            "no drift reference for the served model: drift monitoring is unavailable",
            extra={"model_uri": uri, "reason": f"{type(exc).__name__}: {exc}".splitlines()[0]},
        )
        return None


def load_served_model(serving: ServingConfig, tracking: MlflowConfig) -> ServedModel:
    """Load, verify, compile, warm up and describe the configured model.

    Raises:
        ChurnguardError: the registry is unreachable or the model cannot be loaded safely.
        MlflowException: the alias or model does not exist.
    """
    started = time.perf_counter()
    uri, record = resolve_model(serving, tracking)
    loaded = load_model(uri, expected_sha256=record.model_sha256 if record else None)
    threshold = float(loaded.metadata.get("threshold", 0.5))
    try:
        scorer = ChurnScorer(
            loaded.model,
            threshold,
            loaded.metadata.get("linear_background"),
            threads=serving.predict_threads,
        )
    except (UnsupportedModelError, ValueError) as exc:
        msg = f"{serving.model_uri} is not a churnguard model this service can serve: {exc}"
        raise ModelLoadError(msg) from exc
    example = CustomerRecord.model_validate(EXAMPLE_CUSTOMER).model_dump()
    scorer.record_probability(example)  # warm-up: first calls allocate LightGBM buffers
    scorer.record_contributions(example)
    info = ModelInfoOut(
        name=record.name if record else None,
        version=record.version if record else None,
        alias=record.alias if record else None,
        model_uri=serving.model_uri,
        run_id=record.run_id if record else None,
        data_sha256=loaded.metadata.get("data_sha256"),
        model_sha256=loaded.model_sha256,
        estimator=loaded.metadata.get("estimator"),
        calibration=loaded.metadata.get("calibration"),
        threshold=threshold,
        metrics=record.metrics if record else {},
        loaded_at=datetime.now(UTC).isoformat(),
        trained_at=loaded.created_at.isoformat() if loaded.created_at else None,
    )
    reference = load_drift_reference(uri, record)
    return ServedModel(
        scorer=scorer,
        info=info,
        load_seconds=time.perf_counter() - started,
        drift_reference=reference,
    )


def _load(serving: ServingConfig, tracking: MlflowConfig) -> ServedModel | str:
    """The model at ``serving.model_uri``, or why it could not be loaded."""
    try:
        served = load_served_model(serving, tracking)
    except MlflowException as exc:
        return f"no model at {serving.model_uri}: {exc.message.splitlines()[0]}"
    except ChurnguardError as exc:
        return str(exc)
    logger.info("model loaded", extra={"model_uri": serving.model_uri, "version": served.version})
    return served


def load_challenger(serving: ServingConfig, tracking: MlflowConfig) -> ServedModel | str:
    """The challenger at ``serving.challenger_uri``, or why it could not be loaded."""
    loaded = _load(serving.model_copy(update={"model_uri": serving.challenger_uri}), tracking)
    if isinstance(loaded, str):
        logger.warning("no challenger loaded: serving the champion only", extra={"reason": loaded})
    return loaded


def with_experiment(
    holder: ModelHolder, challenger: ServedModel | str | None, experiment: Experiment
) -> ModelHolder:
    """``holder`` running ``experiment``, with ``challenger`` (or why it is missing) in place.

    Without a challenger the experiment falls back to ``single`` (same share and salt).
    """
    if isinstance(challenger, ServedModel):
        return replace(holder, challenger=challenger, challenger_reason=None, experiment=experiment)
    return replace(
        holder,
        challenger=None,
        challenger_reason=challenger,
        experiment=replace(experiment, mode="single"),
    )


def try_load(
    serving: ServingConfig,
    tracking: MlflowConfig,
    experiment: Experiment | None = None,
    *,
    quiet: bool = False,
) -> ModelHolder:
    """Load the model (and the challenger unless the mode is ``single``); never raises.

    On failure the holder keeps the machine-readable reason for ``/ready`` (champion) or
    ``/model`` (challenger), logged as a warning (at debug level when ``quiet``: a retry loop
    reports changes itself). ``experiment`` defaults to the configured one.
    """
    served = _load(serving, tracking)
    if isinstance(served, str):
        logger.log(
            logging.DEBUG if quiet else logging.WARNING, "no model loaded", extra={"reason": served}
        )
        return ModelHolder(served=None, reason=served)
    experiment = experiment or experiment_of(serving, serving.experiment_mode)
    holder = ModelHolder(served=served, reason=None, experiment=experiment)
    if experiment.mode == "single":
        return holder
    return with_experiment(holder, load_challenger(serving, tracking), experiment)


def experiment_of(
    serving: ServingConfig, mode: ExperimentMode, share: float | None = None
) -> Experiment:
    """The experiment ``mode`` with the configured (or given) share and salt."""
    share = serving.ab_share if share is None else share
    return Experiment(mode=mode, share=share, salt=serving.assignment_salt)


class ModelSlot:
    """The app's current :class:`ModelHolder`, replaced atomically; one reload at a time."""

    def __init__(self, holder: ModelHolder | None = None) -> None:
        self.holder = holder or ModelHolder()
        self._reloading = threading.Lock()
        #: The experiment last set through the admin API (None: the configured one).
        self._requested: Experiment | None = None

    def reload(
        self, serving: ServingConfig, tracking: MlflowConfig, *, quiet: bool = False
    ) -> tuple[ModelHolder, ModelHolder]:
        """Load the configured model (and the running experiment's challenger) again.

        The new holder is swapped in only if the champion loads; a challenger that fails to
        load ends the experiment (``single``, with the reason). A mode and share set through
        :meth:`set_experiment` survive the reload.

        Returns:
            ``(previous, attempted)``: ``attempted.served`` is ``None`` when the load failed, in
            which case the previous model keeps serving.
        """
        with self._reloading:
            previous = self.holder
            attempted = try_load(serving, tracking, self._requested, quiet=quiet)
            if attempted.served is not None:
                self.holder = attempted
            return previous, attempted

    def set_experiment(
        self, serving: ServingConfig, tracking: MlflowConfig, mode: ExperimentMode, share: float
    ) -> ModelHolder:
        """Switch the experiment; a challenger not loaded yet is loaded first.

        Raises:
            ChallengerUnavailableError: no model is served, or the challenger cannot be loaded
                (the service keeps its current mode).
        """
        with self._reloading:
            holder = self.holder
            if holder.served is None:
                msg = f"no model is loaded: {holder.reason}"
                raise ChallengerUnavailableError(msg)
            experiment = experiment_of(serving, mode, share)
            challenger: ServedModel | str | None = holder.challenger
            if mode != "single" and challenger is None:
                challenger = load_challenger(serving, tracking)
                if isinstance(challenger, str):
                    raise ChallengerUnavailableError(challenger)
            self._requested = experiment
            self.holder = (
                replace(holder, experiment=experiment)
                if mode == "single"
                else with_experiment(holder, challenger, experiment)
            )
            return self.holder


class ChallengerUnavailableError(ChurnguardError):
    """An experiment cannot start: the challenger (or the champion) is not loaded."""


__all__ = [
    "ChallengerUnavailableError",
    "ModelHolder",
    "ModelSlot",
    "ServedModel",
    "experiment_of",
    "freeze_long_lived",
    "load_challenger",
    "load_drift_reference",
    "load_served_model",
    "records_columns",
    "records_frame",
    "resolve_model",
    "try_load",
    "with_experiment",
]
