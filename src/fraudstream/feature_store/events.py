"""The transactions as plain numpy arrays, checked for what the feature computation relies on."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fraudstream.errors import DataValidationError
from fraudstream.feature_store.timeline import BoolArray, FloatArray, IntArray
from fraudstream.feature_store.vocabulary import Entity
from fraudstream.transactions.contract import (
    TRANSACTION_ID,
    TX_AMOUNT,
    TX_DATETIME,
    TX_FRAUD,
    TX_LABEL_DATETIME,
)
from fraudstream.transactions.labels import with_label_times

_NAT = np.iinfo(np.int64).min


@dataclass(frozen=True, slots=True)
class Events:
    """One entry per input row, in input order.

    Attributes:
        ids: ``TRANSACTION_ID``.
        time_ns: ``TX_DATETIME`` as int64 nanoseconds.
        amount: ``TX_AMOUNT``.
        entity_ids: The id column of each entity the definition uses.
        is_fraud: Frauds whose label time is known (not NaT); ``None`` without labels.
        is_genuine: Genuine transactions whose label time is known; ``None`` without labels.
        label_ns: ``TX_LABEL_DATETIME`` as int64 nanoseconds; ``None`` without labels.
    """

    ids: IntArray
    time_ns: IntArray
    amount: FloatArray
    entity_ids: dict[Entity, IntArray]
    is_fraud: BoolArray | None
    is_genuine: BoolArray | None
    label_ns: IntArray | None


def _fail(column: str, problem: str, fix: str) -> DataValidationError:
    return DataValidationError(f"cannot compute features: {column} {problem}; {fix}")


def _integers(frame: pd.DataFrame, column: str) -> IntArray:
    series = frame[column]
    if pd.api.types.is_bool_dtype(series.dtype) or not pd.api.types.is_numeric_dtype(series.dtype):
        raise _fail(column, f"has dtype {series.dtype}", "it must hold integers")
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(values).all() or (values != np.round(values)).any():
        raise _fail(column, "has missing or non-integer values", "it must hold integers")
    return series.to_numpy(dtype=np.int64)


def _nanoseconds(frame: pd.DataFrame, column: str) -> IntArray:
    dtype = frame[column].dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        raise _fail(column, f"is timezone-aware ({dtype})", "give naive local times")
    if not pd.api.types.is_datetime64_dtype(dtype):
        raise _fail(column, f"has dtype {dtype}", "parse it as datetimes (datetime64)")
    return frame[column].to_numpy(dtype="datetime64[ns]").view(np.int64)


def _amounts(frame: pd.DataFrame) -> FloatArray:
    series = frame[TX_AMOUNT]
    if pd.api.types.is_bool_dtype(series.dtype) or not pd.api.types.is_numeric_dtype(series.dtype):
        raise _fail(TX_AMOUNT, f"has dtype {series.dtype}", "it must hold numbers")
    amount = series.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(amount).all() or (amount < 0).any():
        raise _fail(TX_AMOUNT, "has missing, infinite or negative values", "amounts must be >= 0")
    return amount


def _labels(
    frame: pd.DataFrame, default_delay_days: float
) -> tuple[BoolArray, BoolArray, IntArray] | None:
    if TX_FRAUD not in frame.columns:
        return None
    fraud = _integers(frame, TX_FRAUD)
    if not np.isin(fraud, (0, 1)).all():
        raise _fail(TX_FRAUD, "has values other than 0 and 1", "1 marks a fraud, 0 a genuine one")
    present = [c for c in (TX_DATETIME, TX_LABEL_DATETIME) if c in frame.columns]
    timed = with_label_times(frame[present], default_delay_days)
    label_ns = _nanoseconds(timed, TX_LABEL_DATETIME)
    known = label_ns != _NAT
    return (fraud == 1) & known, (fraud == 0) & known, label_ns


def read_events(
    frame: pd.DataFrame, entities: Iterable[Entity], default_label_delay_days: float
) -> Events:
    """Take the arrays the features need from ``frame``, checking each.

    Raises:
        DataValidationError: A required column is missing, has the wrong type or bad values
            (missing times, negative amounts, repeated transaction ids, labels not 0/1).
    """
    entity_list = sorted(set(entities))
    required = [TRANSACTION_ID, TX_DATETIME, TX_AMOUNT, *entity_list]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise _fail(", ".join(missing), "missing", f"the input needs {', '.join(required)}")
    ids = _integers(frame, TRANSACTION_ID)
    sorted_ids = np.sort(ids, kind="stable")  # near-linear on files in id order
    if (sorted_ids[1:] == sorted_ids[:-1]).any():
        raise _fail(TRANSACTION_ID, "has repeated ids", "each transaction needs its own id")
    time_ns = _nanoseconds(frame, TX_DATETIME)
    if (time_ns == _NAT).any():
        raise _fail(TX_DATETIME, "has missing times", "every transaction needs a time")
    labels = _labels(frame, default_label_delay_days)
    return Events(
        ids=ids,
        time_ns=time_ns,
        amount=_amounts(frame),
        entity_ids={e: _integers(frame, e) for e in entity_list},
        is_fraud=None if labels is None else labels[0],
        is_genuine=None if labels is None else labels[1],
        label_ns=None if labels is None else labels[2],
    )


__all__ = ["Events", "read_events"]
