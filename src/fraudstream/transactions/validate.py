"""Validation: the Telco schema (pandera) plus dataset-level quality rules.

:func:`validate_data` never stops at the first problem: it collects every failure, each with the
column, offending values (with row numbers), and a fix, into a :class:`ValidationReport`.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import UTC, datetime
from typing import cast

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from fraudstream.data.config import ValidationConfig
from fraudstream.data.quality import dataset_quality_failures, ratio_warnings
from fraudstream.data.report import Failure, ValidationReport
from fraudstream.data.schema import (
    CATEGORIES,
    ID_COLUMN,
    INTEGER_COLUMNS,
    INTERNET_ADDONS,
    NO_INTERNET,
    NO_PHONE,
    NUMERIC_RANGES,
    RAW_COLUMNS,
    TARGET_COLUMN,
    YES_NO,
)


def _plain(value: object) -> object:
    """Turn numpy scalars into Python ones so examples read ``13`` rather than ``np.int64(13)``."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _row(index: Hashable) -> int:
    """1-based data-row number of a default RangeIndex label (the header is not counted)."""
    return cast("int", index) + 1


def _examples(values: pd.Series, limit: int) -> list[str]:
    return [f"{_plain(value)!r} (row {_row(index)})" for index, value in values.head(limit).items()]


def _structure_failures(df: pd.DataFrame) -> list[Failure]:
    present = [str(c) for c in df.columns]
    missing = [c for c in RAW_COLUMNS if c not in present]
    extra = [c for c in present if c not in RAW_COLUMNS]
    failures = [
        Failure(
            check="column_present",
            column=column,
            message=f"required column '{column}' is missing",
            fix=f"add the column '{column}' (expected columns, in order: {', '.join(RAW_COLUMNS)})",
        )
        for column in missing
    ]
    failures += [
        Failure(
            check="no_extra_columns",
            column=column,
            message=f"unexpected column '{column}'",
            fix=f"remove '{column}' or rename it to one of the expected columns",
        )
        for column in extra
    ]
    known = [c for c in present if c in RAW_COLUMNS]
    if not missing and not extra and known != list(RAW_COLUMNS):
        failures.append(
            Failure(
                check="column_order",
                column=None,
                message=f"columns are out of order: {', '.join(known)}",
                fix=f"reorder the columns as: {', '.join(RAW_COLUMNS)}",
            )
        )
    return failures


def _is_blank(series: pd.Series) -> pd.Series:
    return series.isna() | series.astype("str").str.strip().eq("")


def _coerce_numeric(df: pd.DataFrame, limit: int) -> tuple[pd.DataFrame, list[Failure], int]:
    """Parse numeric columns; report unparsable values; count the blank-TotalCharges quirk."""
    coerced = df.copy()
    failures: list[Failure] = []
    blanks = 0
    for column in (c for c in NUMERIC_RANGES if c in df.columns):
        raw = df[column]
        blank = _is_blank(raw)
        parsed = pd.to_numeric(raw.where(~blank), errors="coerce")
        if column == "TotalCharges":
            blanks = int(blank.sum())
        bad = parsed.isna() & ~blank
        fractional = column in INTEGER_COLUMNS and bool((parsed.dropna() % 1 != 0).any())
        if bad.any() or fractional:
            offending = raw[bad] if bad.any() else raw[parsed.notna() & (parsed % 1 != 0)]
            kind = "whole numbers" if column in INTEGER_COLUMNS else "numbers"
            failures.append(
                Failure(
                    check="dtype",
                    column=column,
                    message=f"column '{column}' must hold {kind}; found {len(offending)} value(s) that are not",
                    fix=f"correct or remove the non-numeric values in '{column}'",
                    failing_rows=len(offending),
                    examples=_examples(offending, limit),
                )
            )
        coerced[column] = parsed
    return coerced, failures, blanks


_SERVICE_COLUMNS = frozenset({"InternetService", "PhoneService", "MultipleLines", *INTERNET_ADDONS})


def _conflict_failure(
    df: pd.DataFrame,
    bad: pd.Series,
    columns: list[str],
    check: str,
    message: str,
    fix: str,
    limit: int,
) -> list[Failure]:
    if not bad.any():
        return []
    rows = df.loc[bad, columns].head(limit)
    examples = [
        f"row {_row(index)}: " + ", ".join(f"{c}={_plain(row[c])!r}" for c in columns)
        for index, row in rows.iterrows()
    ]
    return [
        Failure(
            check=check,
            column=None,
            message=message.format(n=int(bad.sum())),
            fix=fix,
            failing_rows=int(bad.sum()),
            examples=examples,
        )
    ]


def _cross_column_failures(df: pd.DataFrame, skip: set[str], limit: int) -> list[Failure]:
    present = set(df.columns) - skip
    failures: list[Failure] = []
    if present >= _SERVICE_COLUMNS:
        no_internet = df["InternetService"].eq("No")
        for addon in INTERNET_ADDONS:
            failures += _conflict_failure(
                df,
                df[addon].eq(NO_INTERNET) != no_internet,
                ["InternetService", addon],
                "no_internet_consistency",
                f"{{n}} row(s) contradict InternetService in '{addon}'",
                f"'{addon}' must be '{NO_INTERNET}' exactly when InternetService is 'No'",
                limit,
            )
        failures += _conflict_failure(
            df,
            df["MultipleLines"].eq(NO_PHONE) != df["PhoneService"].eq("No"),
            ["PhoneService", "MultipleLines"],
            "no_phone_consistency",
            "{n} row(s) contradict PhoneService in 'MultipleLines'",
            f"'MultipleLines' must be '{NO_PHONE}' exactly when PhoneService is 'No'",
            limit,
        )
    if {"TotalCharges", "tenure"} <= present:
        failures += _conflict_failure(
            df,
            df["TotalCharges"].isna() & df["tenure"].ne(0),
            ["tenure", "TotalCharges"],
            "blank_total_charges",
            "{n} row(s) have a blank TotalCharges although tenure is not 0",
            "only new customers (tenure 0) may have a blank TotalCharges: fill it for the others",
            limit,
        )
    return failures


def _schema(present: set[str]) -> pa.DataFrameSchema:
    columns: dict[str, pa.Column] = {
        ID_COLUMN: pa.Column(checks=pa.Check.str_length(min_value=1), unique=True),
        TARGET_COLUMN: pa.Column(checks=pa.Check.isin(YES_NO)),
    }
    columns |= {
        name: pa.Column(checks=pa.Check.isin(values)) for name, values in CATEGORIES.items()
    }
    columns |= {
        name: pa.Column(checks=pa.Check.in_range(low, high), nullable=name == "TotalCharges")
        for name, (low, high) in NUMERIC_RANGES.items()
    }
    return pa.DataFrameSchema({name: column for name, column in columns.items() if name in present})


_CHECK_NAMES = {"isin": "allowed_values", "in_range": "range", "str_length": "non_empty"}
_DESCRIPTIONS = {
    "allowed_values": "value(s) outside the allowed set",
    "range": "value(s) out of range",
    "field_uniqueness": "duplicate value(s)",
    "not_nullable": "missing value(s)",
    "non_empty": "empty value(s)",
}


def _fix_for(column: str, check: str) -> str:
    if check == "allowed_values":
        allowed = CATEGORIES.get(column, YES_NO)
        return f"use one of {', '.join(repr(v) for v in allowed)} in '{column}'"
    if check == "range":
        low, high = NUMERIC_RANGES[column]
        return f"keep '{column}' within [{low:g}, {high:g}]; correct or drop those rows"
    fixes = {
        "field_uniqueness": f"'{column}' must be unique: drop or merge the duplicate records",
        "not_nullable": f"fill the missing '{column}' values or drop those rows",
        "non_empty": f"give every record a non-empty '{column}'",
    }
    return fixes.get(check, f"correct the values of '{column}' that break {check}")


def _schema_failures(df: pd.DataFrame, skip: set[str], limit: int) -> list[Failure]:
    present = {str(c) for c in df.columns if c in RAW_COLUMNS} - skip
    try:
        _schema(present).validate(df[[c for c in df.columns if c in present]], lazy=True)
    except SchemaErrors as exc:
        return _failures_from_cases(exc.failure_cases, limit)
    return []


def _failures_from_cases(cases: pd.DataFrame, limit: int) -> list[Failure]:
    failures = []
    for (column, raw_check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
        check = _CHECK_NAMES.get(str(raw_check).split("(")[0], str(raw_check))
        name = str(column) if isinstance(column, str) else None
        values = pd.Series(
            group["failure_case"].to_numpy(), index=group["index"].fillna(-1).astype(int)
        )
        what = _DESCRIPTIONS.get(str(check), f"value(s) breaking {check}")
        failures.append(
            Failure(
                check=str(check),
                column=name,
                message=f"column '{name}' has {len(group)} {what}",
                fix=_fix_for(str(name), str(check)),
                failing_rows=len(group),
                examples=_examples(values, limit),
            )
        )
    return failures


def validate_data(df: pd.DataFrame, config: ValidationConfig | None = None) -> ValidationReport:
    """Validate a raw Telco frame against the schema and the quality rules.

    Args:
        df: The raw frame, as :func:`fraudstream.data.ingest.read_raw` returns it.
        config: Dataset-level thresholds; defaults when omitted.

    Returns:
        A report whose ``passed`` is true only when no rule failed (warnings do not fail).
    """
    config = config or ValidationConfig()
    limit = config.max_examples
    failures = _structure_failures(df)
    coerced, dtype_failures, blanks = _coerce_numeric(df, limit)
    failures += dtype_failures
    broken = {f.column or "" for f in dtype_failures}
    failures += _schema_failures(coerced, broken, limit)
    failures += _cross_column_failures(coerced, broken, limit)
    failures += dataset_quality_failures(coerced, config)
    return ValidationReport(
        passed=not failures,
        rows=len(df),
        columns=[str(c) for c in df.columns],
        failures=failures,
        warnings=ratio_warnings(coerced, limit),
        handled_quirks={"blank_total_charges": blanks},
        checked_at=datetime.now(UTC),
    )


__all__ = ["validate_data"]
