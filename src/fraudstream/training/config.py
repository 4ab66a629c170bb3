"""Configuration sections of the data stages (ingest, validate)."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: The default source: the project's own simulator (the ``simulator`` section of the config).
DEFAULT_SOURCE = "simulator"

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DownloadConfig(_Section):
    """How URL sources are fetched."""

    timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    backoff_seconds: Annotated[float, Field(ge=0)] = 0.5
    max_megabytes: Annotated[float, Field(gt=0)] = 2048.0


class DataSourceConfig(_Section):
    """Where transactions come from.

    ``source`` is ``simulator`` (the built-in simulator, configured by the ``simulator``
    section), an ``https://`` URL, a local CSV or Parquet path, or a SQLAlchemy URL (with
    ``sql_query`` or ``sql_table``).
    """

    source: str = DEFAULT_SOURCE
    checksums: dict[str, Sha256] = Field(default_factory=dict)
    sql_query: str | None = None
    sql_table: str | None = None
    download: DownloadConfig = DownloadConfig()

    @model_validator(mode="after")
    def _one_sql_selector(self) -> Self:
        if self.sql_query and self.sql_table:
            msg = "set either data.sql_query or data.sql_table, not both"
            raise ValueError(msg)
        return self


class ValidationConfig(_Section):
    """How validation reports, and what a file without label timing gets."""

    max_examples: Annotated[int, Field(ge=1, le=1000)] = 5
    #: Days after a transaction at which its label is taken as known, for files (such as the
    #: handbook's) that have no ``TX_LABEL_DATETIME`` column.
    default_label_delay_days: Annotated[float, Field(ge=0, le=365)] = 7.0


__all__ = ["DEFAULT_SOURCE", "DataSourceConfig", "DownloadConfig", "ValidationConfig"]
