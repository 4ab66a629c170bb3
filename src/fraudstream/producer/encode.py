"""The bytes of the replay's records, built in bulk.

The wire format is declared once, by the pydantic models of
:mod:`fraudstream.transactions.event`; building a model per record costs more than the whole
send, so the JSON is written here from column arrays instead. It is byte for byte what
``TransactionEvent(...).to_json()``, ``LabelEvent(...).to_json()`` and
``LabelWatermark(...).to_json()`` give (a test compares every row of a file), including
pydantic's number and time formats: floats as Python's shortest repr (pydantic writes small
numbers below 1e-4 differently, so those go through pydantic itself) and times without a
fraction when it is zero.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pydantic_core

from fraudstream.producer.sequence import Int64Array, microseconds
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

#: Below this, pydantic writes floats in another notation than Python's repr (1e-05 → 0.00001).
_SMALLEST_REPR: Final = 1e-4


@functools.cache
def _clock_texts() -> list[str]:
    """``HH:MM:SS`` of every second of a day (formatting by lookup is 4x faster than numpy's)."""
    return [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]


def iso_times(times_us: Int64Array) -> list[str]:
    """ISO 8601 times as pydantic writes naive datetimes (no fraction when it is zero)."""
    seconds, fractions = np.divmod(times_us, 1_000_000)
    days, of_day = np.divmod(seconds, 86_400)
    unique_days, day_index = np.unique(days, return_inverse=True)
    dates: list[str] = np.datetime_as_string(unique_days.astype("datetime64[D]")).tolist()
    clock = _clock_texts()
    pairs = zip(day_index.tolist(), of_day.tolist(), strict=True)
    if not fractions.any():
        return [f"{dates[day]}T{clock[second]}" for day, second in pairs]
    return [
        f"{dates[day]}T{clock[second]}.{fraction:06d}"
        if fraction
        else f"{dates[day]}T{clock[second]}"
        for (day, second), fraction in zip(pairs, fractions.tolist(), strict=True)
    ]


def _number(value: float) -> str:
    if value >= _SMALLEST_REPR or value == 0.0:
        return repr(value)
    return pydantic_core.to_json(value).decode()


@dataclass(frozen=True)
class EventColumns:
    """The columns of a transaction frame that records are made of, as arrays."""

    transaction_id: Int64Array
    customer_id: Int64Array
    terminal_id: Int64Array
    tx_us: Int64Array
    tx_amount: npt.NDArray[np.float64]
    tx_time_seconds: Int64Array
    tx_time_days: Int64Array
    tx_fraud: Int64Array | None
    tx_fraud_scenario: Int64Array | None
    label_us: Int64Array | None

    @classmethod
    def of(cls, frame: pd.DataFrame) -> EventColumns:
        """Take the columns out of a validated frame (labels only when ``TX_FRAUD`` is there).

        Raises:
            ValueError: ``TX_FRAUD`` without ``TX_FRAUD_SCENARIO`` or ``TX_LABEL_DATETIME``.
        """
        labelled = TX_FRAUD in frame.columns
        if labelled and not {TX_FRAUD_SCENARIO, TX_LABEL_DATETIME} <= set(frame.columns):
            msg = f"labels need {TX_FRAUD}, {TX_FRAUD_SCENARIO} and {TX_LABEL_DATETIME} together"
            raise ValueError(msg)
        return cls(
            transaction_id=frame[TRANSACTION_ID].to_numpy(np.int64),
            customer_id=frame[CUSTOMER_ID].to_numpy(np.int64),
            terminal_id=frame[TERMINAL_ID].to_numpy(np.int64),
            tx_us=microseconds(frame[TX_DATETIME]),
            tx_amount=frame[TX_AMOUNT].to_numpy(np.float64),
            tx_time_seconds=frame[TX_TIME_SECONDS].to_numpy(np.int64),
            tx_time_days=frame[TX_TIME_DAYS].to_numpy(np.int64),
            tx_fraud=frame[TX_FRAUD].to_numpy(np.int64) if labelled else None,
            tx_fraud_scenario=frame[TX_FRAUD_SCENARIO].to_numpy(np.int64) if labelled else None,
            label_us=microseconds(frame[TX_LABEL_DATETIME]) if labelled else None,
        )


def transaction_values(columns: EventColumns, rows: Int64Array) -> list[bytes]:
    """``TransactionEvent(...).to_json()`` of each row."""
    return [
        (
            f'{{"TRANSACTION_ID":{i},"TX_DATETIME":"{when}","CUSTOMER_ID":{card},'
            f'"TERMINAL_ID":{terminal},"TX_AMOUNT":{_number(amount)},'
            f'"TX_TIME_SECONDS":{seconds},"TX_TIME_DAYS":{days}}}'
        ).encode()
        for i, when, card, terminal, amount, seconds, days in zip(
            columns.transaction_id[rows].tolist(),
            iso_times(columns.tx_us[rows]),
            columns.customer_id[rows].tolist(),
            columns.terminal_id[rows].tolist(),
            columns.tx_amount[rows].tolist(),
            columns.tx_time_seconds[rows].tolist(),
            columns.tx_time_days[rows].tolist(),
            strict=True,
        )
    ]


def label_values(columns: EventColumns, rows: Int64Array) -> list[bytes]:
    """``LabelEvent(...).to_json()`` of each row (the frame must have labels)."""
    if columns.tx_fraud is None or columns.tx_fraud_scenario is None or columns.label_us is None:
        msg = "this transaction file has no labels"
        raise ValueError(msg)
    return [
        (
            f'{{"TRANSACTION_ID":{i},"CUSTOMER_ID":{card},"TERMINAL_ID":{terminal},'
            f'"TX_DATETIME":"{when}","TX_FRAUD":{fraud},"TX_FRAUD_SCENARIO":{scenario},'
            f'"TX_LABEL_DATETIME":"{known}"}}'
        ).encode()
        for i, card, terminal, when, fraud, scenario, known in zip(
            columns.transaction_id[rows].tolist(),
            columns.customer_id[rows].tolist(),
            columns.terminal_id[rows].tolist(),
            iso_times(columns.tx_us[rows]),
            columns.tx_fraud[rows].tolist(),
            columns.tx_fraud_scenario[rows].tolist(),
            iso_times(columns.label_us[rows]),
            strict=True,
        )
    ]


def watermark_value(iso_time: str) -> bytes:
    """``LabelWatermark(labels_known_through=...).to_json()`` for an ISO time from iso_times."""
    return f'{{"LABELS_KNOWN_THROUGH":"{iso_time}"}}'.encode()


__all__ = [
    "EventColumns",
    "iso_times",
    "label_values",
    "transaction_values",
    "watermark_value",
]
