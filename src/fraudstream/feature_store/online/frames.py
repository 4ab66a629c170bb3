"""Transaction frames (the contract's file layout) as the wire events the online store takes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from fraudstream.feature_store.online.layout import from_microseconds, to_microseconds
from fraudstream.transactions.contract import (
    CUSTOMER_ID,
    TERMINAL_ID,
    TRANSACTION_ID,
    TX_AMOUNT,
    TX_DATETIME,
    TX_FRAUD,
    TX_FRAUD_SCENARIO,
    TX_LABEL_DATETIME,
    TX_TIME_DAYS,
    TX_TIME_SECONDS,
)
from fraudstream.transactions.event import LabelEvent, TransactionEvent

_TRANSACTION_FIELDS = {
    TRANSACTION_ID: "transaction_id",
    TX_DATETIME: "tx_datetime",
    CUSTOMER_ID: "customer_id",
    TERMINAL_ID: "terminal_id",
    TX_AMOUNT: "tx_amount",
    TX_TIME_SECONDS: "tx_time_seconds",
    TX_TIME_DAYS: "tx_time_days",
}
_LABEL_FIELDS = {
    TRANSACTION_ID: "transaction_id",
    CUSTOMER_ID: "customer_id",
    TERMINAL_ID: "terminal_id",
    TX_DATETIME: "tx_datetime",
    TX_FRAUD: "tx_fraud",
    TX_FRAUD_SCENARIO: "tx_fraud_scenario",
    TX_LABEL_DATETIME: "tx_label_datetime",
}


def _records(frame: pd.DataFrame, fields: dict[str, str]) -> list[dict[str, Any]]:
    """Rows as keyword dicts of Python values (datetimes as ``datetime``)."""
    columns: dict[str, list[Any]] = {}
    for column, name in fields.items():
        series = frame[column]
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            columns[name] = list(series.dt.to_pydatetime())
        else:
            columns[name] = series.tolist()
    return [
        dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)
    ]


def transaction_events(frame: pd.DataFrame) -> list[TransactionEvent]:
    """One :class:`TransactionEvent` per row, in the frame's row order (validated)."""
    return [TransactionEvent(**record) for record in _records(frame, _TRANSACTION_FIELDS)]


def label_events(frame: pd.DataFrame, known_through: datetime | None = None) -> list[LabelEvent]:
    """A :class:`LabelEvent` per labelled row, in the frame's row order (validated).

    Rows without ``TX_FRAUD`` or a label time are left out, and so are labels known after
    ``known_through`` when it is given (a naive time is UTC). A frame without
    ``TX_FRAUD_SCENARIO`` reads it as 0.
    """
    if TX_FRAUD not in frame.columns or TX_LABEL_DATETIME not in frame.columns:
        return []
    labelled = frame[frame[TX_LABEL_DATETIME].notna() & frame[TX_FRAUD].notna()]
    if known_through is not None:
        through = pd.Timestamp(from_microseconds(to_microseconds(known_through)))  # naive UTC
        labelled = labelled[labelled[TX_LABEL_DATETIME] <= through]
    if TX_FRAUD_SCENARIO not in labelled.columns:
        labelled = labelled.assign(**{TX_FRAUD_SCENARIO: 0})
    return [LabelEvent(**record) for record in _records(labelled, _LABEL_FIELDS)]


__all__ = ["label_events", "transaction_events"]
