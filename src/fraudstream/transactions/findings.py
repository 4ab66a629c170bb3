"""Turning broken rules into report entries: the column, the rows, short quotes, the fix.

Every quote is cut to 40 characters, so a report never echoes a huge value back; row numbers
count data rows from 1 (the header is not counted).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import cast

import pandas as pd
from pandera.errors import SchemaErrors

from fraudstream.transactions.report import Failure
from fraudstream.transactions.schema import FRAME_CHECK_COLUMNS, transaction_schema


def _plain(value: object) -> object:
    """Numpy scalars as Python ones, so examples read ``13`` rather than ``np.int64(13)``."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _row(index: Hashable) -> int:
    """1-based data-row number of a default RangeIndex label (the header is not counted)."""
    return cast("int", index) + 1


def shorten(text: str, width: int = 40) -> str:
    """``text`` cut to ``width`` characters, marked with ``...`` when cut."""
    return text if len(text) <= width else text[: width - 3] + "..."


def excerpt(value: object) -> str:
    """A value as the report quotes it: its repr, cut short (never megabytes back)."""
    return shorten(repr(_plain(value)))


def examples(values: pd.Series, limit: int) -> list[str]:
    """``value (row N)`` for the first ``limit`` values (indexed by the file's row)."""
    return [f"{excerpt(value)} (row {_row(index)})" for index, value in values.head(limit).items()]


def row_examples(frame: pd.DataFrame, limit: int) -> list[str]:
    """``row N: A=1, B=2`` for the first rows of ``frame`` (the columns a rule reads)."""
    return [
        f"row {_row(index)}: " + ", ".join(f"{c}={excerpt(v)}" for c, v in row.items())
        for index, row in frame.head(limit).iterrows()
    ]


def failure(
    check: str, column: str | None, message: str, fix: str, bad: pd.Series, limit: int
) -> Failure:
    """A report entry for the offending values ``bad`` of one rule."""
    return Failure(
        check=check,
        column=column,
        message=message,
        fix=fix,
        failing_rows=len(bad),
        examples=examples(bad, limit),
    )


#: What each check's failures are, and how to fix them (``{column}`` is filled in).
_CHECK_TEXT = {
    "isin": (
        "value(s) outside the allowed set",
        "use only the allowed values in '{column}' (TX_FRAUD 0/1, TX_FRAUD_SCENARIO 0-4)",
    ),
    "greater_than_or_equal_to": (
        "negative value(s)",
        "'{column}' cannot be negative: correct or drop those rows",
    ),
    "finite": (
        "infinite value(s)",
        "'{column}' must be a finite number: correct or drop those rows",
    ),
    "increasing": (
        "id(s) not above the id before",
        "sort the file by '{column}' and give every transaction a new, larger id",
    ),
    "field_uniqueness": (
        "duplicate value(s)",
        "'{column}' must be unique: drop the repeated transactions",
    ),
    "not_nullable": ("missing value(s)", "fill the missing '{column}' values or drop those rows"),
    "in_time_order": (
        "row(s) earlier than the row before",
        "sort the file by TX_DATETIME, ids increasing with time",
    ),
    "days_match_seconds": (
        "row(s) whose TX_TIME_DAYS is not TX_TIME_SECONDS // 86400",
        "recompute TX_TIME_DAYS from TX_TIME_SECONDS",
    ),
    "fraud_matches_scenario": (
        "row(s) whose TX_FRAUD disagrees with TX_FRAUD_SCENARIO",
        "TX_FRAUD must be 1 exactly when TX_FRAUD_SCENARIO is not 0",
    ),
    "label_after_transaction": (
        "row(s) whose label is known before the transaction",
        "TX_LABEL_DATETIME must not be earlier than TX_DATETIME",
    ),
}


def _case_failure(check: str, column: str | None, failing_rows: int, quoted: list[str]) -> Failure:
    what, fix = _CHECK_TEXT.get(check, (f"value(s) breaking {check}", "correct or drop those rows"))
    where = f"column '{column}'" if column else "the file"
    return Failure(
        check=check,
        column=column,
        message=f"{where} has {failing_rows} {what}",
        fix=fix.format(column=column),
        failing_rows=failing_rows,
        examples=quoted,
    )


def _failures_from_cases(cases: pd.DataFrame, source: pd.DataFrame, limit: int) -> list[Failure]:
    """One failure per broken check, quoting the file's own values at the failing rows."""
    failures = []
    cases = cases.assign(check=cases["check"].astype(str).str.split("(").str[0])
    frame_wide = cases["check"].isin(FRAME_CHECK_COLUMNS)
    for check, group in cases[frame_wide].groupby("check", sort=False):
        rows = group["index"].dropna().astype(int).drop_duplicates().sort_values()
        shown = source.loc[rows, FRAME_CHECK_COLUMNS[str(check)]]
        failures.append(_case_failure(str(check), None, len(rows), row_examples(shown, limit)))
    for (column, rule), group in cases[~frame_wide].groupby(["column", "check"], sort=False):
        rows = group["index"].dropna().astype(int).drop_duplicates().sort_values()
        name = str(column)
        values = source.loc[rows, name]
        failures.append(_case_failure(str(rule), name, len(rows), examples(values, limit)))
    return failures


def schema_failures(typed: pd.DataFrame, source: pd.DataFrame, limit: int) -> list[Failure]:
    """Run the pandera schema on the typed columns; quote ``source`` (the file) in failures."""
    try:
        transaction_schema({str(c) for c in typed.columns}).validate(typed, lazy=True)
    except SchemaErrors as exc:
        return _failures_from_cases(exc.failure_cases, source, limit)
    return []


__all__ = ["examples", "excerpt", "failure", "row_examples", "schema_failures", "shorten"]
