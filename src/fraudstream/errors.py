"""The fraudstream exception hierarchy.

Every error a user can cause derives from :class:`FraudstreamError`. Its message is written for a
person: what was wrong, where, and how to fix it. The CLI prints it as one paragraph and exits with
:attr:`FraudstreamError.exit_code`; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pydantic import ValidationError


class FraudstreamError(Exception):
    """Base class of every user-facing error."""

    exit_code: int = 1


class ConfigError(FraudstreamError):
    """The configuration file or a ``FRAUDSTREAM_*`` variable is invalid."""

    exit_code = 3


class IngestionError(FraudstreamError):
    """A data source could not be read, or what it gave is not a table of transactions."""

    exit_code = 4


class SourceUnreachableError(IngestionError):
    """A remote source (URL or database) could not be reached."""


class ChecksumMismatchError(IngestionError):
    """Downloaded bytes do not match the configured sha256."""


class DataValidationError(FraudstreamError):
    """The data broke the schema or a quality rule; the report lists every failure."""

    exit_code = 5


class PipelineStateError(FraudstreamError):
    """A stage was run before the stage it depends on produced its output."""

    exit_code = 6


class ServiceError(FraudstreamError):
    """A service the stream needs (the broker, Redis) could not be started or reached."""

    exit_code = 9


def first_problem(error: ValidationError) -> str:
    """``N problem(s), first at a.b: message``: a pydantic error in one clause for a person."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "top level"
    return f"{error.error_count()} problem(s), first at {where}: {first['msg']}"


__all__ = [
    "ChecksumMismatchError",
    "ConfigError",
    "DataValidationError",
    "FraudstreamError",
    "IngestionError",
    "PipelineStateError",
    "ServiceError",
    "SourceUnreachableError",
    "first_problem",
]
