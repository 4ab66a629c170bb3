"""What travels with a fraud model: its threshold, alert budget, features and test metrics.

The metadata is stored in the MLflow model (the ``MLmodel`` file) and copied onto the registered
version as tags. Its ``feature_definition_version`` ties the model to the feature declaration it
was trained on: a model is only ever loaded by a fraudstream computing the same features.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any, Final, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fraudstream import __version__
from fraudstream.errors import first_problem
from fraudstream.feature_store import FEATURE_NAMES, definition_version
from fraudstream.training.serialization import ModelLoadError

#: ``<first day>..<last day>`` of the test period, both ISO dates, inclusive.
TEST_WINDOW_SEPARATOR: Final = ".."

Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class FeatureDefinitionMismatchError(ModelLoadError):
    """The model was trained on other features than this fraudstream computes."""


def format_test_window(first_day: date, last_day: date) -> str:
    """The test window of ``first_day`` to ``last_day`` (inclusive) as metadata text."""
    return f"{first_day.isoformat()}{TEST_WINDOW_SEPARATOR}{last_day.isoformat()}"


def _check_test_window(text: str) -> str:
    msg = f"test_window must read YYYY-MM-DD..YYYY-MM-DD, first day first, got {text!r}"
    first, separator, last = text.partition(TEST_WINDOW_SEPARATOR)
    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError as exc:
        raise ValueError(msg) from exc
    if not separator or start > end:
        raise ValueError(msg)
    return text


class ModelMetadata(BaseModel):
    """The facts a fraud model is logged and registered with.

    Attributes:
        threshold: The decision threshold (fraud probability at or above it raises an alert),
            chosen from the alert budget.
        alert_budget_k: Alerts the investigators can handle per day (the ``k`` of card
            precision@k).
        feature_definition_version: :func:`fraudstream.feature_store.definition_version` at
            training time.
        feature_names: The model's input columns, in order.
        test_window: The test period, ``YYYY-MM-DD..YYYY-MM-DD``.
        average_precision: Test average precision.
        card_precision_top_k: Test card precision@k (mean over the test days).
        roc_auc: Test ROC-AUC.
        fraudstream_version: The fraudstream that trained the model (None: not recorded).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: Probability
    alert_budget_k: Annotated[int, Field(ge=1)]
    feature_definition_version: Annotated[str, Field(min_length=1)]
    feature_names: Annotated[tuple[str, ...], Field(min_length=1)]
    test_window: str
    average_precision: Probability
    card_precision_top_k: Probability
    roc_auc: Probability
    fraudstream_version: str | None = None

    @model_validator(mode="after")
    def _valid_window(self) -> Self:
        _check_test_window(self.test_window)
        return self

    @classmethod
    def for_current_features(
        cls,
        *,
        threshold: float,
        alert_budget_k: int,
        test_window: str,
        average_precision: float,
        card_precision_top_k: float,
        roc_auc: float,
    ) -> Self:
        """Metadata of a model trained now, on the features this fraudstream computes."""
        return cls(
            threshold=threshold,
            alert_budget_k=alert_budget_k,
            feature_definition_version=definition_version(),
            feature_names=FEATURE_NAMES,
            test_window=test_window,
            average_precision=average_precision,
            card_precision_top_k=card_precision_top_k,
            roc_auc=roc_auc,
            fraudstream_version=__version__,
        )

    def as_tags(self) -> dict[str, str]:
        """The metadata as registered-version tags (metrics as ``metric.<name>``)."""
        metrics = ("average_precision", "card_precision_top_k", "roc_auc")
        tags = {f"metric.{name}": repr(float(getattr(self, name))) for name in metrics}
        return tags | {
            "threshold": repr(self.threshold),
            "alert_budget_k": str(self.alert_budget_k),
            "feature_definition_version": self.feature_definition_version,
            "feature_names": json.dumps(list(self.feature_names)),
            "test_window": self.test_window,
            "fraudstream_version": self.fraudstream_version or "unknown",
        }


def read_metadata(raw: dict[str, Any] | None, model_uri: str) -> ModelMetadata:
    """Validate the metadata found in the model at ``model_uri``.

    Raises:
        ModelLoadError: the metadata is missing or malformed (not a fraudstream fraud model).
    """
    try:
        return ModelMetadata.model_validate(raw or {})
    except ValidationError as exc:
        msg = (
            f"{model_uri} carries no valid fraudstream model metadata ({first_problem(exc)}): it "
            "was not logged by fraudstream's log_model; retrain it with this fraudstream"
        )
        raise ModelLoadError(msg) from exc


def check_current_features(metadata: ModelMetadata, model_uri: str) -> None:
    """Refuse a model trained on another feature declaration than this fraudstream's.

    Raises:
        FeatureDefinitionMismatchError: the definition versions (or the column lists) differ.
    """
    current = definition_version()
    if metadata.feature_definition_version == current and metadata.feature_names == FEATURE_NAMES:
        return
    trained_by = metadata.fraudstream_version or "an unrecorded version"
    msg = (
        f"refusing {model_uri}: it was trained on feature definition "
        f"{metadata.feature_definition_version} (by fraudstream {trained_by}), but this "
        f"fraudstream {__version__} computes feature definition {current}, so its inputs would "
        "mean something else. Retrain the model with this fraudstream, or load it with the "
        "fraudstream version whose feature definition matches"
    )
    if metadata.feature_definition_version == current:
        msg += f" (its feature columns {list(metadata.feature_names)} differ from {list(FEATURE_NAMES)})"
    raise FeatureDefinitionMismatchError(msg)


__all__ = [
    "TEST_WINDOW_SEPARATOR",
    "FeatureDefinitionMismatchError",
    "ModelMetadata",
    "check_current_features",
    "format_test_window",
    "read_metadata",
]
