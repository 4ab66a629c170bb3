"""The drift reference: what the training data and the model's held-out predictions looked like.

`build_drift_reference` is pure: a processed frame (and the model's churn probabilities on
held-out data) in, a pydantic model out. Training writes it as ``drift_reference.json`` next to
the logged model; serving reads it back with `read_drift_reference` and compares each window of
logged predictions with it (``churnguard.monitoring.drift``).

Numeric columns keep quantile bins with their shares (for PSI) and a compressed empirical CDF
(for the KS test); categorical columns keep the share of every category. SeniorCitizen is a 0/1
flag and is treated as a category ("0", "1").
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Final, Literal, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from churnguard.data.schema import CATEGORIES, FEATURE_COLUMNS, NUMERIC_FEATURES
from churnguard.errors import DataValidationError, PipelineStateError

Floats = NDArray[np.float64]

DRIFT_REFERENCE_FILE: Final = "drift_reference.json"
PREDICTION_COLUMN: Final = "churn_probability"
#: Features compared as numbers (PSI on quantile bins, KS) and as category shares (PSI, chi-square).
DRIFT_NUMERIC_FEATURES: Final = tuple(c for c in NUMERIC_FEATURES if c != "SeniorCitizen")
DRIFT_CATEGORICAL_FEATURES: Final = (
    *(c for c in FEATURE_COLUMNS if c in CATEGORIES),
    "SeniorCitizen",
)
#: Expected values of every categorical drift feature (SeniorCitizen as text).
DRIFT_CATEGORIES: Final[dict[str, tuple[str, ...]]] = {**CATEGORIES, "SeniorCitizen": ("0", "1")}
_INTEGER_CATEGORIES: Final = frozenset({"SeniorCitizen"})


class MonitoringInputError(DataValidationError, ValueError):
    """A frame given to the monitoring functions lacks a column or has unusable values."""


class DriftReferenceError(PipelineStateError):
    """The drift reference file is missing or is not a valid drift reference."""


class _ReferenceModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NumericReference(_ReferenceModel):
    """Reference distribution of a numeric column.

    Attributes:
        count: Values the reference was built from (used by the tests' p-values).
        edges: Ascending cut points; the bins are ``(-inf, e0], (e0, e1], ..., (e_last, inf)``.
        shares: Share of the reference in each bin (``len(edges) + 1`` values).
        ecdf_values: Ascending points where the empirical CDF is known.
        ecdf_cdf: Share of the reference at or below each point (the last is 1).
        exact_ecdf: True when the points are every distinct value (the CDF is then exact).
    """

    kind: Literal["numeric"] = "numeric"
    count: Annotated[int, Field(ge=1)]
    edges: Annotated[list[float], Field(min_length=1)]
    shares: list[float]
    ecdf_values: Annotated[list[float], Field(min_length=1)]
    ecdf_cdf: list[float]
    exact_ecdf: bool

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (
            len(self.shares) != len(self.edges) + 1
            or len(self.ecdf_cdf) != len(self.ecdf_values)
            or np.any(np.diff(self.edges) <= 0)
            or np.any(np.diff(self.ecdf_values) <= 0)
            or np.any(np.diff(self.ecdf_cdf) < 0)
            or abs(self.ecdf_cdf[-1] - 1.0) > 1e-9
        ):
            raise ValueError(
                "edges and ecdf_values must increase strictly, shares need one more value than "
                "edges, ecdf_cdf one per ecdf value, non-decreasing up to 1"
            )
        _check_shares(self.shares)
        return self


class CategoricalReference(_ReferenceModel):
    """Reference shares of a categorical column.

    ``shares`` lists every expected category (zero shares included) in schema order, then any
    unexpected value the reference held.
    """

    kind: Literal["categorical"] = "categorical"
    count: Annotated[int, Field(ge=1)]
    shares: Annotated[dict[str, float], Field(min_length=1)]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_shares(list(self.shares.values()))
        return self


class DriftReference(_ReferenceModel):
    """What current data is compared with to detect drift.

    Attributes:
        created_at: When the reference was built (UTC).
        n_rows: Rows of the feature frame.
        bins: Requested number of quantile bins of the numeric columns.
        ecdf_points: Largest number of points kept of an empirical CDF.
        numeric: References of the numeric features.
        categorical: References of the categorical features (SeniorCitizen included).
        prediction: Reference of the model's churn probability on held-out data, if given.
    """

    schema_version: Literal[1] = 1
    created_at: AwareDatetime
    n_rows: Annotated[int, Field(ge=1)]
    bins: Annotated[int, Field(ge=2)]
    ecdf_points: Annotated[int, Field(ge=2)]
    numeric: dict[str, NumericReference]
    categorical: dict[str, CategoricalReference]
    prediction: NumericReference | None

    @model_validator(mode="after")
    def _every_feature(self) -> Self:
        if set(self.numeric) != set(DRIFT_NUMERIC_FEATURES) or set(self.categorical) != set(
            DRIFT_CATEGORICAL_FEATURES
        ):
            raise ValueError(
                f"numeric must hold {list(DRIFT_NUMERIC_FEATURES)} and categorical "
                f"{list(DRIFT_CATEGORICAL_FEATURES)}"
            )
        return self


def _check_shares(shares: list[float]) -> None:
    if any(not 0.0 <= s <= 1.0 for s in shares) or abs(sum(shares) - 1.0) > 1e-6:
        raise ValueError(f"shares must lie in [0, 1] and sum to 1, got {shares[:5]}...")


def require_columns(frame: object, columns: tuple[str, ...], what: str) -> pd.DataFrame:
    """Return ``frame`` if it is a DataFrame holding ``columns``.

    Raises:
        MonitoringInputError: ``frame`` is not a DataFrame or lacks some of ``columns``.
    """
    if not isinstance(frame, pd.DataFrame):
        raise MonitoringInputError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MonitoringInputError(
            f"{what} lacks the column(s) {missing}; pass a processed frame with "
            f"{list(columns)} (extra columns are ignored)"
        )
    return frame


def numeric_values(frame: pd.DataFrame, column: str) -> Floats:
    """The finite float values of a numeric column.

    Raises:
        MonitoringInputError: the column is not numeric or holds missing / non-finite values.
    """
    series = frame[column]
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        raise MonitoringInputError(
            f"column {column!r} must be numeric, got dtype {series.dtype}; convert it with "
            "the preprocessing stage (churnguard.data.preprocess.coerce_types)"
        )
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        raise MonitoringInputError(
            f"column {column!r} has {int(bad.sum())} missing or non-finite value(s) (first at "
            f"row {int(np.argmax(bad))}); drop or fill those rows first"
        )
    return values


def category_counts(frame: pd.DataFrame, column: str) -> dict[str, int]:
    """Counts of each value of a categorical column, keyed by the value as text.

    Raises:
        MonitoringInputError: the column has missing values or the wrong dtype (text expected;
            integers 0/1 for SeniorCitizen).
    """
    series = frame[column]
    if column in _INTEGER_CATEGORIES:
        ok = pd.api.types.is_integer_dtype(series) and not pd.api.types.is_bool_dtype(series)
        expected = "integer 0/1"
    else:
        ok = isinstance(series.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(series)
        expected = "text"
    if not ok:
        raise MonitoringInputError(
            f"column {column!r} must hold {expected} values, got dtype {series.dtype}; convert "
            "it with the preprocessing stage (churnguard.data.preprocess.coerce_types)"
        )
    if missing := int(series.isna().sum()):
        raise MonitoringInputError(
            f"column {column!r} has {missing} missing value(s); drop those rows"
        )
    counts = series.value_counts(sort=False)
    return {str(value): int(n) for value, n in counts.items() if n > 0}


def bin_index(edges: Floats, values: Floats) -> NDArray[np.intp]:
    """Bin of each value for right-closed bins ``(-inf, e0], (e0, e1], ..., (e_last, inf)``."""
    return np.searchsorted(edges, values, side="left")


def numeric_reference(values: Floats, *, bins: int, ecdf_points: int) -> NumericReference:
    """Quantile bins with their shares and a compressed empirical CDF of ``values``.

    Cut points are observed values (``inverted_cdf`` quantiles), deduplicated and kept below the
    maximum, so a discrete column (tenure) gets fewer bins but never an empty one. The ECDF keeps
    every distinct value when there are at most ``ecdf_points`` of them, otherwise the values at
    ``ecdf_points`` evenly spaced quantile levels (the minimum and maximum included).

    Raises:
        MonitoringInputError: ``values`` is empty.
    """
    if values.size == 0:
        raise MonitoringInputError("cannot build a drift reference from zero values")
    ordered = np.sort(values)
    cuts = np.unique(np.quantile(ordered, np.arange(1, bins) / bins, method="inverted_cdf"))
    cuts = cuts[cuts < ordered[-1]]
    if cuts.size == 0:  # a constant column: everything in (-inf, value]
        cuts = ordered[-1:]
    shares = np.bincount(bin_index(cuts, ordered), minlength=cuts.size + 1) / ordered.size
    distinct = np.unique(ordered)
    exact = distinct.size <= ecdf_points
    points = (
        distinct
        if exact
        else np.unique(
            np.quantile(ordered, np.linspace(0.0, 1.0, ecdf_points), method="inverted_cdf")
        )
    )
    cdf = np.searchsorted(ordered, points, side="right") / ordered.size
    return NumericReference(
        count=int(ordered.size),
        edges=cuts.tolist(),
        shares=shares.tolist(),
        ecdf_values=points.tolist(),
        ecdf_cdf=cdf.tolist(),
        exact_ecdf=bool(exact),
    )


def _categorical_reference(
    counts: dict[str, int], categories: tuple[str, ...]
) -> CategoricalReference:
    total = sum(counts.values())
    unexpected = sorted(set(counts) - set(categories))
    return CategoricalReference(
        count=total,
        shares={value: counts.get(value, 0) / total for value in (*categories, *unexpected)},
    )


def probability_values(probabilities: object, what: str) -> Floats:
    """Churn probabilities as a 1-D float array, checked to be finite and within [0, 1].

    Raises:
        MonitoringInputError: not a non-empty 1-D array of numbers within [0, 1].
    """
    try:
        values = np.asarray(probabilities, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MonitoringInputError(f"{what} must be numbers in [0, 1]: {exc}") from exc
    if values.ndim != 1 or values.size == 0:
        raise MonitoringInputError(
            f"{what} must hold one probability per row (1-D, not empty), got shape "
            f"{values.shape}; pass model.predict_proba(frame)[:, 1]"
        )
    bad = ~(np.isfinite(values) & (values >= 0.0) & (values <= 1.0))
    if bad.any():
        raise MonitoringInputError(
            f"{what} has {int(bad.sum())} value(s) outside [0, 1] or missing (first: "
            f"{values[bad][0]!r}); pass churn probabilities"
        )
    return values


def build_drift_reference(
    features: pd.DataFrame,
    probabilities: NDArray[np.float64] | None,
    *,
    bins: int = 10,
    ecdf_points: int = 256,
    created_at: datetime | None = None,
) -> DriftReference:
    """Build the drift reference of a processed feature frame and held-out churn probabilities.

    Args:
        features: Processed frame (``churnguard.data.preprocess``) holding ``FEATURE_COLUMNS``;
            other columns are ignored.
        probabilities: The model's churn probabilities on held-out data (may come from another
            split than ``features``), or None to skip prediction drift.
        bins: Quantile bins of the numeric columns and the probabilities (2 to 100).
        ecdf_points: Largest number of points kept of each empirical CDF (2 to 10,000).
        created_at: Timestamp to record; defaults to now (UTC).

    Raises:
        MonitoringInputError: ``features`` is empty, lacks a column or has a wrong dtype or missing
            values; ``probabilities`` is empty or not in [0, 1]; ``bins`` or ``ecdf_points`` is
            out of range.
    """
    if not 2 <= bins <= 100 or not 2 <= ecdf_points <= 10_000:
        raise MonitoringInputError(
            f"bins must be 2-100 and ecdf_points 2-10,000, got bins={bins}, "
            f"ecdf_points={ecdf_points}"
        )
    frame = require_columns(features, FEATURE_COLUMNS, "the drift reference frame")
    if frame.empty:
        raise MonitoringInputError(
            "cannot build a drift reference from an empty frame; pass the processed train split"
        )
    numeric: dict[str, NumericReference] = {
        column: numeric_reference(numeric_values(frame, column), bins=bins, ecdf_points=ecdf_points)
        for column in DRIFT_NUMERIC_FEATURES
    }
    categorical: dict[str, CategoricalReference] = {
        column: _categorical_reference(category_counts(frame, column), DRIFT_CATEGORIES[column])
        for column in DRIFT_CATEGORICAL_FEATURES
    }
    prediction = None
    if probabilities is not None:
        values = probability_values(probabilities, "probabilities")
        prediction = numeric_reference(values, bins=bins, ecdf_points=ecdf_points)
    return DriftReference(
        created_at=created_at or datetime.now(UTC),
        n_rows=len(frame),
        bins=bins,
        ecdf_points=ecdf_points,
        numeric=numeric,
        categorical=categorical,
        prediction=prediction,
    )


def read_drift_reference(path: Path) -> DriftReference:
    """Read a ``drift_reference.json`` written by training.

    Raises:
        DriftReferenceError: the file is missing, unreadable or not a valid drift reference.
    """
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise DriftReferenceError(
            f"cannot read the drift reference {path}: {exc.strerror or exc}; train a model "
            f"(churnguard train) or export its bundle again, which writes {DRIFT_REFERENCE_FILE}"
        ) from exc
    try:
        return DriftReference.model_validate_json(content)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the document"
        raise DriftReferenceError(
            f"{path} is not a valid drift reference ({exc.error_count()} problem(s); first at "
            f"{where}: {first['msg']}); rebuild it by training the model again"
        ) from exc


__all__ = [
    "DRIFT_CATEGORICAL_FEATURES",
    "DRIFT_CATEGORIES",
    "DRIFT_NUMERIC_FEATURES",
    "DRIFT_REFERENCE_FILE",
    "PREDICTION_COLUMN",
    "CategoricalReference",
    "DriftReference",
    "DriftReferenceError",
    "MonitoringInputError",
    "NumericReference",
    "bin_index",
    "build_drift_reference",
    "category_counts",
    "numeric_reference",
    "numeric_values",
    "probability_values",
    "read_drift_reference",
    "require_columns",
]
