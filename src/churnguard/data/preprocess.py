"""Preprocessing: coerce types, encode the target and split train / validation / test.

The output contract (``processed_schema``) is what feature engineering and training rely on:
categoricals as strings, ``SeniorCitizen`` and ``tenure`` as integers, charges as floats (a blank
``TotalCharges`` becomes 0.0: such customers are new and have not been billed), ``Churn`` as 0/1.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa
from sklearn.model_selection import train_test_split

from churnguard.data.config import SplitConfig
from churnguard.data.schema import (
    CATEGORIES,
    FLOAT_COLUMNS,
    ID_COLUMN,
    INTEGER_COLUMNS,
    RAW_COLUMNS,
    TARGET_COLUMN,
)

SPLIT_NAMES = ("train", "validation", "test")


def processed_schema(*, with_target: bool = True) -> pa.DataFrameSchema:
    """Return the pandera schema of a processed frame (the features' input contract)."""
    columns: dict[str, pa.Column] = {ID_COLUMN: pa.Column(str, unique=True)}
    columns |= {name: pa.Column(str, pa.Check.isin(values)) for name, values in CATEGORIES.items()}
    columns |= {name: pa.Column("int64") for name in INTEGER_COLUMNS}
    columns |= {name: pa.Column("float64", pa.Check.ge(0)) for name in FLOAT_COLUMNS}
    if with_target:
        columns[TARGET_COLUMN] = pa.Column("int64", pa.Check.isin([0, 1]))
    ordered = {name: columns[name] for name in RAW_COLUMNS if name in columns}
    return pa.DataFrameSchema(ordered, strict=True, ordered=True)


def coerce_types(df: pd.DataFrame) -> pd.DataFrame:
    """Coerce a validated raw frame to the processed dtypes (the target only if present)."""
    out = df.copy()
    total = out["TotalCharges"]
    blank = total.isna() | total.astype("str").str.strip().eq("")
    out["TotalCharges"] = (
        pd.to_numeric(total.where(~blank), errors="raise").fillna(0.0).astype("float64")
    )
    out["MonthlyCharges"] = out["MonthlyCharges"].astype("float64")
    for column in INTEGER_COLUMNS:
        out[column] = out[column].astype("int64")
    for column in (ID_COLUMN, *CATEGORIES):
        out[column] = out[column].astype("str")
    if TARGET_COLUMN in out.columns:
        out[TARGET_COLUMN] = out[TARGET_COLUMN].map({"No": 0, "Yes": 1}).astype("int64")
    return out


@dataclass(frozen=True)
class SplitFrames:
    """The three processed splits (``validation`` may be empty when its fraction is 0)."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame

    def items(self) -> list[tuple[str, pd.DataFrame]]:
        """Return ``(name, frame)`` pairs in the order train, validation, test."""
        return [(name, getattr(self, name)) for name in SPLIT_NAMES]


def _split(
    df: pd.DataFrame, fraction: float, config: SplitConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    stratify = df[TARGET_COLUMN] if config.stratify else None
    first, second = train_test_split(
        df, test_size=fraction, random_state=config.seed, stratify=stratify
    )
    return first, second


def preprocess_data(df: pd.DataFrame, config: SplitConfig | None = None) -> SplitFrames:
    """Coerce types, encode ``Churn`` as 0/1 and split deterministically (stratified, seeded).

    Args:
        df: A raw frame that passed :func:`churnguard.data.validate.validate_data`.
        config: Split fractions and seed; defaults when omitted.

    Returns:
        The train, validation and test frames, each satisfying :func:`processed_schema`.
    """
    config = config or SplitConfig()
    processed = processed_schema().validate(coerce_types(df))
    rest, test = _split(processed, config.test, config)
    if config.validation > 0:
        train, validation = _split(
            rest, config.validation / (config.train + config.validation), config
        )
    else:
        train, validation = rest, rest.iloc[0:0]
    return SplitFrames(
        train=train.reset_index(drop=True),
        validation=validation.reset_index(drop=True),
        test=test.reset_index(drop=True),
    )


__all__ = ["SPLIT_NAMES", "SplitFrames", "coerce_types", "preprocess_data", "processed_schema"]
