"""Configuration sections of the data stages (ingest, validate, preprocess)."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_SOURCE = (
    "https://raw.githubusercontent.com/IBM/telco-customer-churn-on-icp4d/master/data/"
    "Telco-Customer-Churn.csv"
)
DEFAULT_SOURCE_SHA256 = "16320c9c1ec72448db59aa0a26a0b95401046bef5d02fd3aeb906448e3055e91"

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DownloadConfig(_Section):
    """How URL sources are fetched."""

    timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    backoff_seconds: Annotated[float, Field(ge=0)] = 0.5
    max_megabytes: Annotated[float, Field(gt=0)] = 512.0


class SyntheticConfig(_Section):
    """Parameters of the built-in synthetic generator (``--source synthetic``)."""

    n_rows: Annotated[int, Field(ge=1, le=50_000_000)] = 7043
    seed: int = 42
    blank_total_charges: bool = True


class DataSourceConfig(_Section):
    """Where raw customer data comes from.

    ``source`` is an ``https://`` URL, a local CSV or Parquet path, a SQLAlchemy URL (with
    ``sql_query`` or ``sql_table``) or the word ``synthetic``.
    """

    source: str = DEFAULT_SOURCE
    checksums: dict[str, Sha256] = Field(
        default_factory=lambda: {DEFAULT_SOURCE: DEFAULT_SOURCE_SHA256}
    )
    sql_query: str | None = None
    sql_table: str | None = None
    synthetic: SyntheticConfig = SyntheticConfig()
    download: DownloadConfig = DownloadConfig()

    @model_validator(mode="after")
    def _one_sql_selector(self) -> Self:
        if self.sql_query and self.sql_table:
            msg = "set either data.sql_query or data.sql_table, not both"
            raise ValueError(msg)
        return self


class ValidationConfig(_Section):
    """Dataset-level quality thresholds applied after the schema checks."""

    min_rows: Annotated[int, Field(ge=1)] = 100
    churn_rate_min: Fraction = 0.05
    churn_rate_max: Fraction = 0.60
    max_duplicate_share: Fraction = 0.05
    max_missing_share: Fraction = 0.01
    max_examples: Annotated[int, Field(ge=1, le=1000)] = 5

    @model_validator(mode="after")
    def _bounds_ordered(self) -> Self:
        if self.churn_rate_min >= self.churn_rate_max:
            msg = (
                f"validation.churn_rate_min ({self.churn_rate_min}) must be below "
                f"validation.churn_rate_max ({self.churn_rate_max})"
            )
            raise ValueError(msg)
        return self


class SplitConfig(_Section):
    """Deterministic stratified train / validation / test split."""

    train: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.70
    validation: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.15
    test: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.15
    seed: int = 42
    stratify: bool = True

    @model_validator(mode="after")
    def _fractions_sum_to_one(self) -> Self:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-9:
            msg = (
                f"split fractions must sum to 1, got train={self.train} + "
                f"validation={self.validation} + test={self.test} = {total:g}"
            )
            raise ValueError(msg)
        return self


__all__ = [
    "DEFAULT_SOURCE",
    "DEFAULT_SOURCE_SHA256",
    "DataSourceConfig",
    "DownloadConfig",
    "SplitConfig",
    "SyntheticConfig",
    "ValidationConfig",
]
