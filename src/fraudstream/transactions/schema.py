"""The pandera schema of a transaction file, once its columns have their types.

Types are established first (:mod:`fraudstream.transactions.validate` parses every column and
reports what does not parse, row by row); this schema then checks the values: ranges, uniqueness,
ids increasing with time, labels consistent with their scenario, labels known no earlier than the
transaction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from fraudstream.transactions.contract import (
    CUSTOMER_ID,
    SCENARIOS,
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

_SECONDS_PER_DAY = 86_400


def _increasing(ids: pd.Series) -> pd.Series:
    """True where the id is above every id before it (the first row always passes)."""
    previous = ids.cummax().shift(1)
    return previous.isna() | (ids > previous)


def _in_time_order(frame: pd.DataFrame) -> pd.Series:
    """True where the transaction is not earlier than the one before it in the file."""
    times = frame[TX_DATETIME]
    return times.isna() | times.shift(1).isna() | (times >= times.shift(1))


def _days_match_seconds(frame: pd.DataFrame) -> pd.Series:
    return frame[TX_TIME_DAYS] == frame[TX_TIME_SECONDS] // _SECONDS_PER_DAY


def _fraud_matches_scenario(frame: pd.DataFrame) -> pd.Series:
    return (frame[TX_FRAUD] == 1) == (frame[TX_FRAUD_SCENARIO] > 0)


def _label_after_transaction(frame: pd.DataFrame) -> pd.Series:
    return frame[TX_LABEL_DATETIME] >= frame[TX_DATETIME]


def _non_negative_id() -> pa.Column:
    return pa.Column("int64", checks=pa.Check.ge(0), nullable=False)


#: Dataframe-wide checks: (name, the columns each needs, the row-wise check).
_FRAME_CHECKS = (
    ("in_time_order", {TX_DATETIME}, _in_time_order),
    ("days_match_seconds", {TX_TIME_DAYS, TX_TIME_SECONDS}, _days_match_seconds),
    ("fraud_matches_scenario", {TX_FRAUD, TX_FRAUD_SCENARIO}, _fraud_matches_scenario),
    ("label_after_transaction", {TX_DATETIME, TX_LABEL_DATETIME}, _label_after_transaction),
)


#: The dataframe-wide checks by name, with the columns each reads (its failures are rows).
FRAME_CHECK_COLUMNS = {name: sorted(needs) for name, needs, _ in _FRAME_CHECKS}


def transaction_schema(present: set[str]) -> pa.DataFrameSchema:
    """The schema for the typed columns in ``present`` (optional columns may be absent)."""
    columns: dict[str, pa.Column] = {
        TRANSACTION_ID: pa.Column(
            "int64",
            checks=[
                pa.Check.ge(0),
                pa.Check(_increasing, name="increasing"),
            ],
            unique=True,
        ),
        TX_DATETIME: pa.Column("datetime64[ns]", nullable=False),
        CUSTOMER_ID: _non_negative_id(),
        TERMINAL_ID: _non_negative_id(),
        TX_AMOUNT: pa.Column(
            "float64",
            checks=[
                pa.Check.ge(0.0),
                pa.Check(np.isfinite, name="finite"),
            ],
            nullable=False,
        ),
        TX_TIME_SECONDS: _non_negative_id(),
        TX_TIME_DAYS: _non_negative_id(),
        TX_FRAUD: pa.Column("int64", checks=pa.Check.isin([0, 1])),
        TX_FRAUD_SCENARIO: pa.Column("int64", checks=pa.Check.isin(sorted(SCENARIOS))),
        TX_LABEL_DATETIME: pa.Column("datetime64[ns]", nullable=False),
    }
    checks = [
        pa.Check(check, name=name) for name, needs, check in _FRAME_CHECKS if needs <= present
    ]
    return pa.DataFrameSchema(
        {name: column for name, column in columns.items() if name in present},
        checks=checks,
        strict=False,
    )


__all__ = ["FRAME_CHECK_COLUMNS", "transaction_schema"]
