"""What the serving fast path reads from a fitted churnguard pipeline, and how it feeds it.

The fitted scikit-learn objects are read once (:func:`read_blocks`, :func:`classifier_parts`,
:func:`calibrator_of`); helpers turn their contents into what :mod:`churnguard.models.fastpath`
scores with: the per-record column index, the coded inputs of the bit-vector forest, category
codes, and the calibrators' formulas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from lightgbm import LGBMClassifier
from numpy.typing import NDArray
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from churnguard.models.blend import LogOddsBlend
from churnguard.models.forest import ForestInput

Matrix = NDArray[np.float64]


class UnsupportedModelError(TypeError):
    """The model is not a churnguard pipeline of a known shape; use the pipeline path instead."""


@dataclass(frozen=True)
class Block:
    """One block of encoded columns: one-hot categories, or numeric columns (maybe scaled)."""

    columns: tuple[str, ...]
    categories: tuple[tuple[Any, ...], ...] | None = None
    mean: Matrix | None = None
    scale: Matrix | None = None


def _is_identity(transformer: Any) -> bool:
    # A fitted ColumnTransformer holds "passthrough" as an identity FunctionTransformer.
    if isinstance(transformer, str):
        return transformer == "passthrough"
    return isinstance(transformer, FunctionTransformer) and transformer.func is None


def read_blocks(encode: Any) -> list[Block]:
    """The encoder's blocks of output columns, in order (raises for an unknown step)."""
    blocks = []
    for name, transformer, columns in encode.transformers_:
        if name == "remainder" or (isinstance(transformer, str) and transformer == "drop"):
            continue
        cols = tuple(str(c) for c in columns)
        if isinstance(transformer, OneHotEncoder):
            if transformer.drop_idx_ is not None:
                raise UnsupportedModelError("one-hot encoders that drop a category")
            cats = tuple(tuple(c.tolist()) for c in transformer.categories_)
            blocks.append(Block(cols, categories=cats))
        elif isinstance(transformer, StandardScaler):
            mean = np.zeros(len(cols)) if transformer.mean_ is None else transformer.mean_
            scale = np.ones(len(cols)) if transformer.scale_ is None else transformer.scale_
            blocks.append(Block(cols, mean=np.asarray(mean), scale=np.asarray(scale)))
        elif _is_identity(transformer):
            blocks.append(Block(cols))
        else:
            raise UnsupportedModelError(f"encoder step {type(transformer).__name__}")
    return blocks


@dataclass(frozen=True)
class Linear:
    """A binary logistic model: coefficients over the encoded columns and intercept."""

    coef: Matrix
    intercept: float


NUMERIC = object()


def forest_inputs(blocks: list[Block]) -> list[ForestInput]:
    """One coded input per categorical field (code = category index, last = unknown)."""
    inputs: list[ForestInput] = []
    position = 0
    for block in blocks:
        if block.categories is not None:
            for categories in block.categories:
                n = len(categories)
                values = np.vstack([np.eye(n), np.zeros((1, n))])
                inputs.append(ForestInput(tuple(range(position, position + n)), values))
                position += n
        else:
            for _ in block.columns:
                inputs.append(ForestInput((position,)))
                position += 1
    return inputs


def category_codes(values: Any, lookup: Mapping[Any, int]) -> NDArray[np.intp]:
    """Category index per value; ``len(lookup)`` for a value outside the categories."""
    try:
        return np.fromiter(map(lookup.__getitem__, values), dtype=np.intp, count=len(values))
    except KeyError:
        unknown = len(lookup)
        return np.fromiter(
            (lookup.get(v, unknown) for v in values), dtype=np.intp, count=len(values)
        )


def record_index(blocks: list[Block]) -> list[tuple[str, Any, float, float | None]]:
    """Per encoded column: (source column, category or ``NUMERIC``, mean, scale or None)."""
    index: list[tuple[str, Any, float, float | None]] = []
    for block in blocks:
        if block.categories is not None:
            for column, categories in zip(block.columns, block.categories, strict=True):
                index.extend((column, c, 0.0, None) for c in categories)
        elif block.scale is not None and block.mean is not None:
            index.extend(
                (c, NUMERIC, float(m), float(s))
                for c, m, s in zip(block.columns, block.mean, block.scale, strict=True)
            )
        else:
            index.extend((c, NUMERIC, 0.0, None) for c in block.columns)
    return index


def calibrator_of(model: Any) -> Any:
    """The single calibrator of a ``CalibratedClassifierCV(ensemble=False)``, else None."""
    if not isinstance(model, CalibratedClassifierCV):
        return None
    if model.method not in ("sigmoid", "isotonic"):
        raise UnsupportedModelError(f"calibration method {model.method!r}")
    if len(model.calibrated_classifiers_) != 1:
        raise UnsupportedModelError("calibration with ensemble=True (several calibrators)")
    (calibrator,) = model.calibrated_classifiers_[0].calibrators
    return calibrator


def calibrate(calibrator: Any, response: Matrix) -> Matrix:
    """The calibrator applied to classifier outputs."""
    # The calibrators' own formulas without scikit-learn's per-call input checks (~100 µs).
    if isinstance(calibrator, IsotonicRegression) and calibrator.out_of_bounds == "clip":
        clipped = np.clip(response, calibrator.X_min_, calibrator.X_max_)
        return np.asarray(
            np.interp(clipped, calibrator.X_thresholds_, calibrator.y_thresholds_), dtype=np.float64
        )
    if hasattr(calibrator, "a_") and hasattr(calibrator, "b_"):  # _SigmoidCalibration
        return np.asarray(expit(-(calibrator.a_ * response + calibrator.b_)), dtype=np.float64)
    return np.asarray(calibrator.predict(response), dtype=np.float64)


def linear_part(classifier: LogisticRegression) -> Linear:
    coef = np.asarray(classifier.coef_, dtype=np.float64)
    if coef.shape[0] != 1:
        raise UnsupportedModelError("a multi-class logistic regression")
    return Linear(coef=coef[0], intercept=float(classifier.intercept_[0]))


def classifier_parts(classifier: Any) -> tuple[float, Linear | None, Any]:
    """(logistic weight, logistic part, LightGBM booster) of a supported classifier."""
    if isinstance(classifier, LogOddsBlend):
        return (
            float(classifier.weight),
            linear_part(classifier.logistic_),
            classifier.lightgbm_.booster_,
        )
    if isinstance(classifier, LGBMClassifier):
        return 0.0, None, classifier.booster_
    if isinstance(classifier, LogisticRegression):
        return 1.0, linear_part(classifier), None
    raise UnsupportedModelError(f"classifier {type(classifier).__name__}")


__all__ = [
    "NUMERIC",
    "Block",
    "Linear",
    "UnsupportedModelError",
    "calibrate",
    "calibrator_of",
    "category_codes",
    "classifier_parts",
    "forest_inputs",
    "read_blocks",
    "record_index",
]
