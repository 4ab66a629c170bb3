"""Validation of a transaction file: every problem, with column, row and value, all at once.

:func:`validate_transactions` first checks the structure (required, optional and unknown
columns), then parses each column into its type and reports every value that does not parse,
then runs the pandera schema (:mod:`fraudstream.transactions.schema`) on the columns that parsed.
It never stops at the first problem. The typed frame is handed on only when nothing failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

import pandas as pd

from fraudstream.transactions.contract import (
    DATETIME_COLUMNS,
    EVENT_COLUMNS,
    FILE_COLUMNS,
    INTEGER_COLUMNS,
    OPTIONAL_COLUMNS,
    TX_AMOUNT,
)
from fraudstream.transactions.findings import failure, schema_failures, shorten
from fraudstream.transactions.report import Failure, ValidationReport

DEFAULT_MAX_EXAMPLES = 5


@dataclass(frozen=True)
class ValidationResult:
    """The report, and the typed frame when the report passed (``None`` otherwise)."""

    report: ValidationReport
    frame: pd.DataFrame | None


def _structure_failures(frame: pd.DataFrame) -> list[Failure]:
    present = [str(c) for c in frame.columns]
    failures = [
        Failure(
            check="column_present",
            column=column,
            message=f"required column '{column}' is missing",
            fix=f"add '{column}'; a transaction file has the columns {', '.join(EVENT_COLUMNS)} "
            f"and optionally {', '.join(sorted(OPTIONAL_COLUMNS))}",
        )
        for column in EVENT_COLUMNS
        if column not in present
    ]
    failures += [
        Failure(
            check="no_extra_columns",
            column=column,
            message=f"unexpected column '{shorten(column)}'",
            fix=f"remove it or rename it to one of {', '.join(FILE_COLUMNS)}",
        )
        for column in present
        if column not in FILE_COLUMNS
    ]
    if frame.empty:
        failures.append(
            Failure(
                check="not_empty",
                column=None,
                message="the file holds no transactions",
                fix="give at least one transaction row below the header",
            )
        )
    return failures


def _parse_integer(raw: pd.Series, column: str, limit: int) -> tuple[pd.Series, list[Failure]]:
    parsed = pd.to_numeric(raw, errors="coerce")
    unparsable = parsed.isna() & raw.notna()
    fractional = parsed.notna() & (parsed % 1 != 0)
    failures = []
    if unparsable.any() or fractional.any():
        bad = raw[unparsable | fractional]
        failures.append(
            failure(
                "dtype",
                column,
                f"column '{column}' must hold whole numbers; {len(bad)} value(s) are not",
                f"correct or remove the rows whose '{column}' is not an integer",
                bad,
                limit,
            )
        )
    if raw.isna().any():
        failures.append(
            failure(
                "not_nullable",
                column,
                f"column '{column}' has {int(raw.isna().sum())} missing value(s)",
                f"fill the missing '{column}' values or drop those rows",
                raw[raw.isna()],
                limit,
            )
        )
    return (parsed.astype("int64") if not failures else parsed), failures


def _unparsable(
    raw: pd.Series, parsed: pd.Series, column: str, kind: str, fix: str, limit: int
) -> list[Failure]:
    """The values that were there but did not parse into ``kind``."""
    unparsable = parsed.isna() & raw.notna()
    if not unparsable.any():
        return []
    bad = raw[unparsable]
    message = f"column '{column}' must hold {kind}; {len(bad)} value(s) do not parse"
    return [failure("dtype", column, message, fix, bad, limit)]


def _parse_amount(raw: pd.Series, limit: int) -> tuple[pd.Series, list[Failure]]:
    parsed = pd.to_numeric(raw, errors="coerce").astype("float64")
    fix = f"write amounts as plain decimal numbers in '{TX_AMOUNT}'"
    return parsed, _unparsable(raw, parsed, TX_AMOUNT, "numbers", fix, limit)


def _naive_utc(times: pd.Series) -> pd.Series:
    """Time-zone-aware times as naive UTC; naive ones as they are."""
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        naive: pd.Series = times.dt.tz_convert(UTC).dt.tz_localize(None)
        return naive
    return times


def _parse_datetime(raw: pd.Series, column: str, limit: int) -> tuple[pd.Series, list[Failure]]:
    raw = _naive_utc(raw)
    if pd.api.types.is_datetime64_dtype(raw):
        parsed = raw.astype("datetime64[ns]")
    else:
        parsed = pd.to_datetime(raw, errors="coerce", format="ISO8601")
        parsed = _naive_utc(parsed).astype("datetime64[ns]")
    fix = f"write '{column}' as ISO 8601 timestamps, e.g. 2018-04-01 07:19:05"
    return parsed, _unparsable(raw, parsed, column, "timestamps", fix, limit)


def _parse_columns(frame: pd.DataFrame, limit: int) -> tuple[pd.DataFrame, list[Failure]]:
    """Type every known column; a column that did not parse cleanly is left out of the result."""
    typed: dict[str, pd.Series] = {}
    failures: list[Failure] = []
    for column in (c for c in FILE_COLUMNS if c in frame.columns):
        raw = frame[column]
        if column in INTEGER_COLUMNS:
            parsed, found = _parse_integer(raw, column, limit)
        elif column in DATETIME_COLUMNS:
            parsed, found = _parse_datetime(raw, column, limit)
        else:
            parsed, found = _parse_amount(raw, limit)
        failures += found
        if not found:
            typed[column] = parsed
    return pd.DataFrame(typed, index=frame.index), failures


def validate_transactions(
    frame: pd.DataFrame, max_examples: int = DEFAULT_MAX_EXAMPLES
) -> ValidationResult:
    """Validate a transaction frame as read from a file (values may still be text).

    Args:
        frame: The file's rows in file order, with a default RangeIndex.
        max_examples: How many offending values each failure quotes.

    Returns:
        The report (``passed`` only when no rule failed) and, when it passed, the typed frame
        with the contract's column order and dtypes.
    """
    frame = frame.reset_index(drop=True)
    failures = _structure_failures(frame)
    typed, parse_failures = _parse_columns(frame, max_examples)
    failures += parse_failures
    if not frame.empty:
        failures += schema_failures(typed, frame, max_examples)
    report = ValidationReport(
        passed=not failures,
        rows=len(frame),
        columns=[shorten(str(c)) for c in frame.columns],
        failures=failures,
        warnings=[],
        handled_quirks={},
    )
    return ValidationResult(report=report, frame=None if failures else typed)


__all__ = ["DEFAULT_MAX_EXAMPLES", "ValidationResult", "validate_transactions"]
