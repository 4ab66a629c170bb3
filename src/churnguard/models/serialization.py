"""Safe model (de)serialization: skops with an allow-list that lives in this code, never pickle.

MLflow stores a scikit-learn model with skops and records the trusted types inside the model
itself, which a crafted model could abuse. churnguard therefore loads models with *its own*
allow-list (:data:`TRUSTED_TYPES`) and refuses any other serialization format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import skops.io
from mlflow.exceptions import MlflowException
from mlflow.models import Model

from churnguard.errors import ChurnguardError

#: Every non-builtin type a churnguard model may contain (features + LightGBM + calibration).
TRUSTED_TYPES: Final = (
    "churnguard.features.pipeline.one_hot_feature_name",
    "churnguard.features.transformers.TelcoFeatureEngineer",
    "churnguard.models.blend.LogOddsBlend",
    "collections.OrderedDict",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
)


class ModelLoadError(ChurnguardError):
    """A model could not be loaded safely (wrong format, untrusted types, missing files)."""

    exit_code = 7


def check_trusted(model: Any) -> None:
    """Refuse to log a model holding a type that :data:`TRUSTED_TYPES` does not allow.

    Raises:
        ModelLoadError: the model contains other types; they would not load back safely.
    """
    untrusted = set(skops.io.get_untrusted_types(data=skops.io.dumps(model))) - set(TRUSTED_TYPES)
    if untrusted:
        msg = f"the model holds types outside churnguard's skops allow-list: {', '.join(sorted(untrusted))}"
        raise ModelLoadError(msg)


def load_local_model(model_dir: Path) -> Any:
    """Load the scikit-learn model of a downloaded MLflow model folder with our allow-list.

    Raises:
        ModelLoadError: not an MLflow sklearn model, not skops, or untrusted content.
    """
    try:
        flavor = Model.load(str(model_dir)).flavors["sklearn"]
    except (OSError, KeyError, MlflowException) as exc:
        msg = f"{model_dir} is not an MLflow scikit-learn model ({exc})"
        raise ModelLoadError(msg) from exc
    if flavor.get("serialization_format") != "skops":
        msg = f"{model_dir} is serialized as {flavor.get('serialization_format')!r}; churnguard only loads skops models"
        raise ModelLoadError(msg)
    try:
        return skops.io.load(model_dir / flavor["pickled_model"], trusted=list(TRUSTED_TYPES))
    except Exception as exc:  # skops raises UntrustedTypesFoundException, OSError, zip errors
        msg = f"refusing to load {model_dir}: {type(exc).__name__}: {exc}"
        raise ModelLoadError(msg) from exc


__all__ = ["TRUSTED_TYPES", "ModelLoadError", "check_trusted", "load_local_model"]
