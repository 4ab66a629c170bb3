"""Safe model (de)serialization: skops with an allow-list that lives in this code, never pickle.

MLflow stores a scikit-learn model with skops and records the trusted types inside the model
itself, which a crafted model could abuse. fraudstream therefore loads models with *its own*
allow-list (:data:`TRUSTED_TYPES`) and refuses any other serialization format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import skops.io
from mlflow.exceptions import MlflowException
from mlflow.models import Model

from fraudstream.errors import FraudstreamError

#: The types a fraud model may hold beyond skops' own defaults (which already cover
#: ``Pipeline``, ``StandardScaler`` and ``LogisticRegression``): a LightGBM classifier, bare or
#: inside a Pipeline. Computed with ``skops.io.get_untrusted_types`` on fitted examples.
TRUSTED_TYPES: Final = (
    "collections.OrderedDict",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
)


class ModelLoadError(FraudstreamError):
    """A model cannot be used safely: wrong format, untrusted types, changed file, old features."""

    exit_code = 7


def untrusted_types(estimator: Any) -> list[str]:
    """The types in ``estimator`` that neither skops' defaults nor :data:`TRUSTED_TYPES` allow."""
    found = skops.io.get_untrusted_types(data=skops.io.dumps(estimator))
    return sorted(set(found) - set(TRUSTED_TYPES))


def check_trusted(estimator: Any) -> None:
    """Refuse an estimator holding a type outside the allow-list; it would not load back.

    Raises:
        ModelLoadError: the estimator contains other types (the message lists them).
    """
    untrusted = untrusted_types(estimator)
    if untrusted:
        msg = (
            f"the model holds types outside fraudstream's skops allow-list: {', '.join(untrusted)}; "
            "use a scikit-learn Pipeline of standard steps with LogisticRegression or "
            "LGBMClassifier, or add the type to TRUSTED_TYPES in fraudstream.training.serialization "
            "after reviewing it"
        )
        raise ModelLoadError(msg)


def sklearn_flavor(model_dir: Path) -> dict[str, Any]:
    """The ``sklearn`` flavor of the MLflow model folder ``model_dir``.

    Raises:
        ModelLoadError: the folder is not an MLflow scikit-learn model.
    """
    try:
        flavor = Model.load(str(model_dir)).flavors["sklearn"]
    except (OSError, KeyError, MlflowException) as exc:
        msg = f"{model_dir} is not an MLflow scikit-learn model ({type(exc).__name__}: {exc})"
        raise ModelLoadError(msg) from exc
    return dict(flavor)


def model_file(model_dir: Path) -> Path:
    """The serialized estimator inside the MLflow model folder ``model_dir``."""
    return model_dir / str(sklearn_flavor(model_dir).get("pickled_model", "model.skops"))


def load_local_estimator(model_dir: Path) -> Any:
    """Load the estimator of a local MLflow model folder with fraudstream's allow-list.

    Raises:
        ModelLoadError: not an MLflow scikit-learn model, not skops, or untrusted content.
    """
    flavor = sklearn_flavor(model_dir)
    if flavor.get("serialization_format") != "skops":
        msg = (
            f"{model_dir} is serialized as {flavor.get('serialization_format')!r}; fraudstream only "
            "loads skops models (pickle can run arbitrary code): retrain it with this fraudstream"
        )
        raise ModelLoadError(msg)
    try:
        return skops.io.load(model_dir / flavor["pickled_model"], trusted=list(TRUSTED_TYPES))
    except Exception as exc:  # skops raises UntrustedTypesFoundException, OSError, zip errors
        msg = f"refusing to load {model_dir}: {type(exc).__name__}: {exc}"
        raise ModelLoadError(msg) from exc


__all__ = [
    "TRUSTED_TYPES",
    "ModelLoadError",
    "check_trusted",
    "load_local_estimator",
    "model_file",
    "sklearn_flavor",
    "untrusted_types",
]
