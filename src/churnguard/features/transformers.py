"""Telco feature engineering as a scikit-learn transformer.

`TelcoFeatureEngineer` keeps the model's input columns and adds domain features computed with
vectorised pandas/numpy. It sits at the front of the logged model pipeline, so training and serving
compute the same features from the same code.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Mapping, Sequence
from typing import Any, Final, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from churnguard.data.schema import CATEGORIES, FEATURE_COLUMNS, INTERNET_ADDONS
from churnguard.errors import DataValidationError
from churnguard.features.config import DEFAULT_TENURE_BINS, validate_tenure_bins

TENURE_BUCKET: Final = "tenure_bucket"
#: Expected spend (tenure x monthly charges) below which ``charges_ratio`` is 1.
MIN_EXPECTED_SPEND: Final = 0.01
#: Engineered categorical features.
ENGINEERED_CATEGORICAL_FEATURES: Final = (TENURE_BUCKET,)
#: Engineered continuous (non-binary) numeric features.
ENGINEERED_CONTINUOUS_FEATURES: Final = ("n_services", "charges_ratio", "avg_monthly_spend")
#: Engineered 0/1 flags.
ENGINEERED_FLAG_FEATURES: Final = (
    "is_month_to_month",
    "has_fiber",
    "pays_electronic_check",
    "has_auto_payment",
    "fiber_without_tech_support",
)
ENGINEERED_NUMERIC_FEATURES: Final = (*ENGINEERED_CONTINUOUS_FEATURES, *ENGINEERED_FLAG_FEATURES)
#: Every column `TelcoFeatureEngineer` adds, in output order.
ENGINEERED_FEATURES: Final = (*ENGINEERED_CATEGORICAL_FEATURES, *ENGINEERED_NUMERIC_FEATURES)

# Services counted as "Yes": phone, multiple lines and each internet add-on (internet is separate).
_YES_SERVICES: Final = ("PhoneService", "MultipleLines", *INTERNET_ADDONS)
_INTERNET_TYPES: Final = tuple(v for v in CATEGORIES["InternetService"] if v != "No")
_AUTOMATIC_PAYMENTS: Final = tuple(v for v in CATEGORIES["PaymentMethod"] if "automatic" in v)


class FeatureInputError(DataValidationError, ValueError):
    """The frame handed to the feature stage lacks columns or holds unusable values.

    A `ValueError` too, as scikit-learn expects from a transformer given bad input.
    """


def tenure_bucket_labels(tenure_bins: Sequence[int]) -> tuple[str, ...]:
    """Label the tenure buckets defined by ``tenure_bins``.

    Args:
        tenure_bins: Strictly increasing bucket edges in months.

    Returns:
        One label per bucket, e.g. ``("0-6", "6-12", "12-24", "24-48", "48-72", "72+")``.
    """
    edges = validate_tenure_bins(tenure_bins)
    closed = tuple(f"{low}-{high}" for low, high in itertools.pairwise(edges))
    return (*closed, f"{edges[-1]}+")


def check_feature_frame(X: object) -> pd.DataFrame:
    """Check that ``X`` is a DataFrame holding every model input column.

    Args:
        X: Candidate input; extra columns (id, target) are allowed and ignored downstream.

    Returns:
        ``X`` itself, typed as a DataFrame.

    Raises:
        TypeError: If ``X`` is not a pandas DataFrame.
        FeatureInputError: If feature columns are missing; the message names them.
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError(
            f"expected a pandas DataFrame with the Telco feature columns, got {type(X).__name__}"
        )
    missing = [column for column in FEATURE_COLUMNS if column not in X.columns]
    if missing:
        raise FeatureInputError(
            f"missing required feature column(s): {', '.join(missing)}; the frame must hold "
            f"every column of churnguard.data.schema.FEATURE_COLUMNS"
        )
    return X


def _numeric(columns: Mapping[str, Any] | pd.DataFrame, column: str) -> NDArray[np.float64]:
    values = columns[column]
    try:
        if isinstance(values, pd.Series):
            return values.to_numpy(dtype=np.float64, na_value=np.nan)
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        dtype = getattr(values, "dtype", type(values).__name__)
        raise FeatureInputError(
            f"column {column!r} must be numeric, got dtype {dtype}: {error}"
        ) from error


def _text(columns: Mapping[str, Any] | pd.DataFrame, column: str) -> NDArray[np.object_]:
    values = columns[column]
    array = values.to_numpy() if isinstance(values, pd.Series) else values
    return np.asarray(array, dtype=object)


def _one_of(values: NDArray[np.object_], options: Sequence[str]) -> NDArray[np.bool_]:
    # Element-wise comparisons (not np.isin): object columns may hold None next to strings.
    hit = np.zeros(len(values), dtype=bool)
    for option in options:
        hit |= values == option
    return hit


def _tenure_bucket(
    tenure: NDArray[np.float64], edges: tuple[int, ...], labels: tuple[str, ...]
) -> NDArray[np.object_]:
    # Bucket i holds edges[i] < t <= edges[i + 1]; searchsorted(side="left") returns i + 1 for
    # those, 0 at or below the first edge (joins the first bucket), len(edges) above the last.
    position = np.clip(np.searchsorted(edges, tenure, side="left"), 1, len(edges)) - 1
    buckets: NDArray[np.object_] = np.asarray(labels, dtype=object)[position]
    buckets[np.isnan(tenure)] = None
    return buckets


def engineer_columns(
    columns: Mapping[str, Any] | pd.DataFrame, edges: tuple[int, ...], labels: tuple[str, ...]
) -> dict[str, NDArray[Any]]:
    """The engineered features of many records, vectorised with numpy.

    Args:
        columns: Each feature column as a pandas Series, numpy array or list (a DataFrame works).
        edges: Validated tenure bucket edges.
        labels: Their labels (`tenure_bucket_labels`).

    Returns:
        ``ENGINEERED_FEATURES`` mapped to arrays, one value per record.

    Raises:
        FeatureInputError: a numeric column is not numeric.
    """
    tenure = _numeric(columns, "tenure")
    monthly = _numeric(columns, "MonthlyCharges")
    total = _numeric(columns, "TotalCharges")
    # A customer without a billed month (tenure or charges 0) has paid exactly what was expected;
    # below a cent of expected spend the ratio is meaningless (and overflows), so it is 1 too.
    expected = tenure * monthly
    no_expected_spend = expected < MIN_EXPECTED_SPEND
    internet = _text(columns, "InternetService")
    payment = _text(columns, "PaymentMethod")
    has_fiber = internet == "Fiber optic"
    n_services = sum((_text(columns, c) == "Yes").astype(np.int64) for c in _YES_SERVICES)
    return {
        TENURE_BUCKET: _tenure_bucket(tenure, edges, labels),
        "n_services": n_services + _one_of(internet, _INTERNET_TYPES).astype(np.int64),
        "charges_ratio": np.where(
            no_expected_spend, 1.0, total / np.where(no_expected_spend, 1.0, expected)
        ),
        "avg_monthly_spend": total / np.maximum(tenure, 1.0),
        "is_month_to_month": (_text(columns, "Contract") == "Month-to-month").astype(np.int64),
        "has_fiber": has_fiber.astype(np.int64),
        "pays_electronic_check": (payment == "Electronic check").astype(np.int64),
        "has_auto_payment": _one_of(payment, _AUTOMATIC_PAYMENTS).astype(np.int64),
        "fiber_without_tech_support": (has_fiber & (_text(columns, "TechSupport") == "No")).astype(
            np.int64
        ),
    }


def engineer_record(
    record: Mapping[str, Any], edges: tuple[int, ...], labels: tuple[str, ...]
) -> dict[str, Any]:
    """The engineered features of one record, as plain Python values.

    The scalar twin of the vectorised transform, for the single-record serving fast path; a test
    proves both give identical values on thousands of records.

    Args:
        record: One customer's feature values (processed types, no missing values).
        edges: Validated tenure bucket edges.
        labels: Their labels (`tenure_bucket_labels`).

    Returns:
        ``ENGINEERED_FEATURES`` mapped to their values.
    """
    tenure = float(record["tenure"])
    monthly = float(record["MonthlyCharges"])
    total = float(record["TotalCharges"])
    expected = tenure * monthly
    position = min(max(bisect.bisect_left(edges, tenure), 1), len(edges)) - 1
    internet = record["InternetService"]
    payment = record["PaymentMethod"]
    has_fiber = internet == "Fiber optic"
    n_services = sum(record[c] == "Yes" for c in _YES_SERVICES) + (internet in _INTERNET_TYPES)
    return {
        TENURE_BUCKET: labels[position],
        "n_services": n_services,
        "charges_ratio": 1.0 if expected < MIN_EXPECTED_SPEND else total / expected,
        "avg_monthly_spend": total / max(tenure, 1.0),
        "is_month_to_month": int(record["Contract"] == "Month-to-month"),
        "has_fiber": int(has_fiber),
        "pays_electronic_check": int(payment == "Electronic check"),
        "has_auto_payment": int(payment in _AUTOMATIC_PAYMENTS),
        "fiber_without_tech_support": int(has_fiber and record["TechSupport"] == "No"),
    }


class TelcoFeatureEngineer(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Add engineered churn features to the Telco feature columns.

    The output holds every column of ``FEATURE_COLUMNS`` unchanged, followed by
    ``ENGINEERED_FEATURES``:

    - ``tenure_bucket``: tenure bucket label (``"0-6"`` ... ``"72+"``), missing if tenure is.
    - ``n_services``: phone, multiple lines, internet and each internet add-on subscribed (0-9).
    - ``charges_ratio``: ``TotalCharges / (tenure * MonthlyCharges)``; 1.0 when that product is 0.
    - ``avg_monthly_spend``: ``TotalCharges / max(tenure, 1)``.
    - 0/1 flags ``is_month_to_month``, ``has_fiber``, ``pays_electronic_check``,
      ``has_auto_payment`` and ``fiber_without_tech_support`` (fiber with ``TechSupport == "No"``).

    Columns other than the feature columns (id, target) are ignored and not returned.
    The transformer needs the named Telco columns, so it accepts DataFrames only.

    Args:
        tenure_bins: Strictly increasing tenure bucket edges in months; see `FeatureConfig`.

    Attributes:
        tenure_bins_: The validated bucket edges.
        tenure_bucket_labels_: Labels of the tenure buckets, in order.
        feature_names_in_: The input columns the transformer uses (``FEATURE_COLUMNS``).
        n_features_in_: Number of input columns used.
    """

    def __init__(self, tenure_bins: Sequence[int] = DEFAULT_TENURE_BINS) -> None:
        self.tenure_bins = tenure_bins

    def __sklearn_tags__(self) -> Any:
        """Declare the inputs: named string and numeric columns, missing values propagate."""
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.input_tags.allow_nan = True
        # The output mixes the str tenure bucket with numeric columns: no dtype is preserved.
        tags.transformer_tags.preserves_dtype = []
        return tags

    def fit(self, X: pd.DataFrame, y: object = None) -> Self:
        """Validate the parameters and the input columns.

        Args:
            X: Frame holding every column of ``FEATURE_COLUMNS``.
            y: Ignored; present for pipeline compatibility.

        Returns:
            The fitted transformer.

        Raises:
            ValueError: If ``tenure_bins`` is invalid.
            TypeError: If ``X`` is not a DataFrame.
            FeatureInputError: If ``X`` lacks feature columns.
        """
        self.tenure_bins_ = validate_tenure_bins(self.tenure_bins)
        check_feature_frame(X)
        self.tenure_bucket_labels_ = tenure_bucket_labels(self.tenure_bins_)
        self.feature_names_in_ = np.asarray(FEATURE_COLUMNS, dtype=object)
        self.n_features_in_ = len(FEATURE_COLUMNS)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Return the feature columns followed by the engineered features.

        Args:
            X: Frame holding every column of ``FEATURE_COLUMNS``; may be a single row.

        Returns:
            A new frame with the index of ``X``.

        Raises:
            TypeError: If ``X`` is not a DataFrame.
            FeatureInputError: If ``X`` lacks feature columns or a numeric column is not numeric.
        """
        check_is_fitted(self)
        frame = check_feature_frame(X)
        engineered = engineer_columns(frame, self.tenure_bins_, self.tenure_bucket_labels_)
        result = frame.loc[:, list(FEATURE_COLUMNS)].copy()
        for name in ENGINEERED_FEATURES:
            result[name] = engineered[name]
        result[TENURE_BUCKET] = result[TENURE_BUCKET].astype("str")
        return result

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> NDArray[Any]:
        """Names of the output columns.

        Args:
            input_features: Ignored unless given, in which case it must equal
                ``feature_names_in_``.

        Returns:
            ``FEATURE_COLUMNS`` followed by ``ENGINEERED_FEATURES``.

        Raises:
            ValueError: If ``input_features`` differs from ``feature_names_in_``.
        """
        check_is_fitted(self)
        if input_features is not None and list(input_features) != list(self.feature_names_in_):
            raise ValueError(
                f"input_features must equal feature_names_in_ {list(self.feature_names_in_)}, "
                f"got {list(input_features)}"
            )
        return np.asarray([*FEATURE_COLUMNS, *ENGINEERED_FEATURES], dtype=object)
