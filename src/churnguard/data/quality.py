"""Dataset-level quality rules: size, churn rate, duplicates, missing values, charge ratios."""

from __future__ import annotations

import pandas as pd

from churnguard.data.config import ValidationConfig
from churnguard.data.report import Failure
from churnguard.data.schema import ID_COLUMN, TARGET_COLUMN

#: Total charges are roughly tenure x monthly charges; outside this band a row is suspicious.
CHARGES_RATIO_BAND = (0.5, 2.0)


def _failure(check: str, message: str, fix: str, rows: int = 0) -> Failure:
    return Failure(check=check, column=None, message=message, fix=fix, failing_rows=rows)


def dataset_quality_failures(df: pd.DataFrame, config: ValidationConfig) -> list[Failure]:
    """Apply the dataset-level thresholds of ``config`` to a (numerically coerced) raw frame."""
    failures = []
    if len(df) < config.min_rows:
        failures.append(
            _failure(
                "min_rows",
                f"only {len(df)} rows; at least {config.min_rows} are needed",
                "supply more data or lower validation.min_rows",
            )
        )
    if TARGET_COLUMN in df.columns and len(df):
        rate = float(df[TARGET_COLUMN].eq("Yes").mean())
        if not config.churn_rate_min <= rate <= config.churn_rate_max:
            failures.append(
                _failure(
                    "churn_rate",
                    f"churn rate {rate:.3f} is outside [{config.churn_rate_min}, {config.churn_rate_max}]",
                    "check the Churn labels (Yes/No) or adjust validation.churn_rate_min/max",
                )
            )
    features = [c for c in df.columns if c != ID_COLUMN]
    duplicates = int(df.duplicated(subset=features).sum()) if features else 0
    if len(df) and duplicates / len(df) > config.max_duplicate_share:
        failures.append(
            _failure(
                "duplicate_rows",
                f"{duplicates} rows ({duplicates / len(df):.1%}) repeat another row apart from the id",
                "deduplicate the extract or raise validation.max_duplicate_share",
                duplicates,
            )
        )
    missing = (
        df.drop(columns=["TotalCharges"], errors="ignore").isna().to_numpy().mean()
        if len(df)
        else 0.0
    )
    if missing > config.max_missing_share:
        failures.append(
            _failure(
                "missing_share",
                f"{missing:.1%} of the cells are missing (blank TotalCharges aside)",
                "fill or drop incomplete rows, or raise validation.max_missing_share",
            )
        )
    return failures


def ratio_warnings(df: pd.DataFrame, limit: int) -> list[Failure]:
    """Warn about rows whose TotalCharges is far from tenure x MonthlyCharges."""
    needed = {"TotalCharges", "tenure", "MonthlyCharges"}
    if not needed <= set(df.columns):
        return []
    numeric = df[list(needed)].apply(pd.to_numeric, errors="coerce")
    expected = numeric["tenure"] * numeric["MonthlyCharges"]
    ratio = numeric["TotalCharges"] / expected.where(expected > 0)
    low, high = CHARGES_RATIO_BAND
    odd = ratio[(ratio < low) | (ratio > high)]
    if odd.empty:
        return []
    warning = _failure(
        "charges_ratio",
        f"{len(odd)} row(s) have TotalCharges outside {low}-{high} x tenure x MonthlyCharges",
        "check those rows' billing fields; this is a warning and does not stop the pipeline",
        len(odd),
    )
    examples = [
        f"ratio {value:.2f} (row {int(index) + 1})" for index, value in odd.head(limit).items()
    ]
    return [warning.model_copy(update={"examples": examples})]


__all__ = ["CHARGES_RATIO_BAND", "dataset_quality_failures", "ratio_warnings"]
