"""Readers for each kind of transaction source: URL, local file, SQL database, the simulator.

Each reader either produces a complete result or raises an :class:`IngestionError` that says what
went wrong and how to fix it. Nothing here writes to the final destination.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url

from fraudstream.errors import ChecksumMismatchError, IngestionError, SourceUnreachableError
from fraudstream.training.config import DownloadConfig

logger = logging.getLogger(__name__)

#: Called with (bytes or rows done so far, total or None when unknown).
ProgressCallback = Callable[[int, int | None], None]

OFFLINE_HINT = (
    "Ways out: pass --source PATH to a local copy of the transaction file, "
    "or --source simulator to generate transactions."
)
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class SourceKind(StrEnum):
    """What a ``--source`` string refers to."""

    URL = "url"
    FILE = "file"
    SQL = "sql"
    SIMULATOR = "simulator"


def classify_source(source: str) -> SourceKind:
    """Tell which kind of source ``source`` names."""
    lowered = source.strip().lower()
    if lowered == "simulator":
        return SourceKind.SIMULATOR
    if lowered.startswith(("http://", "https://")):
        return SourceKind.URL
    if "://" in lowered:
        return SourceKind.SQL
    return SourceKind.FILE


def describe_source(source: str) -> str:
    """Return ``source`` fit for logs and manifests (passwords in database and web URLs hidden)."""
    kind = classify_source(source)
    if kind is SourceKind.SQL:
        try:
            return make_url(source).render_as_string(hide_password=True)
        except (sa_exc.ArgumentError, ValueError):
            return "<unparseable database URL>"
    if kind is SourceKind.URL:
        try:
            url = httpx.URL(source)
        except httpx.InvalidURL:
            return "<unparseable URL>"
        masked = "***"  # a placeholder shown instead of the real password
        return (
            str(url.copy_with(username=url.username, password=masked)) if url.password else source
        )
    return source


def verify_checksum(actual: str, expected: str | None, source: str) -> bool:
    """Compare sha256 digests; return whether a check was made.

    Raises:
        ChecksumMismatchError: a checksum is configured and differs.
    """
    if expected is None:
        return False
    if actual != expected.lower():
        msg = (
            f"sha256 of {source} is {actual}, but {expected} is expected. The file is corrupt, "
            "truncated or a different version. Fetch it again, or update data.checksums in the "
            "config if the new content is intended."
        )
        raise ChecksumMismatchError(msg)
    return True


def _stream_once(
    client: httpx.Client, url: str, destination: Path, limit: int, progress: ProgressCallback | None
) -> str:
    digest = hashlib.sha256()
    with client.stream("GET", url) as response:
        response.raise_for_status()
        total = int(response.headers.get("content-length", 0)) or None
        done = 0
        with destination.open("wb") as handle:
            for chunk in response.iter_bytes(1 << 16):
                done += len(chunk)
                if done > limit:
                    msg = f"{describe_source(url)} is larger than data.download.max_megabytes; raise the limit if intended"
                    raise IngestionError(msg)
                digest.update(chunk)
                handle.write(chunk)
                if progress is not None:
                    progress(done, total)
    return digest.hexdigest()


def download(
    url: str, destination: Path, config: DownloadConfig, progress: ProgressCallback | None = None
) -> str:
    """Stream ``url`` into ``destination`` with timeout and retries; return its sha256.

    Raises:
        SourceUnreachableError: every attempt failed to connect or got a server error.
        IngestionError: the server refused the request (for example 404).
    """
    limit = int(config.max_megabytes * 1024 * 1024)
    attempts = config.retries + 1
    last_problem = "no attempt made"
    with httpx.Client(timeout=config.timeout_seconds, follow_redirects=True) as client:
        for attempt in range(1, attempts + 1):
            try:
                return _stream_once(client, url, destination, limit, progress)
            except httpx.InvalidURL as exc:
                msg = f"{url} is not a valid URL ({exc}): check the address. {OFFLINE_HINT}"
                raise IngestionError(msg) from exc
            except httpx.HTTPStatusError as exc:
                status = exc.response.status_code
                if status not in _RETRYABLE_STATUS:
                    msg = f"{describe_source(url)} answered HTTP {status}: check the address. {OFFLINE_HINT}"
                    raise IngestionError(msg) from exc
                last_problem = f"HTTP {status}"
            except httpx.TransportError as exc:
                last_problem = f"{type(exc).__name__}: {exc}"
            logger.warning(
                "download attempt failed", extra={"attempt": attempt, "problem": last_problem}
            )
            if attempt < attempts:
                time.sleep(config.backoff_seconds * 2 ** (attempt - 1))
    msg = f"could not reach {describe_source(url)} after {attempts} attempt(s) ({last_problem}); is the network down? {OFFLINE_HINT}"
    raise SourceUnreachableError(msg)


def url_reachable(url: str, timeout_seconds: float = 5.0) -> bool:
    """Tell whether ``url`` answers a GET with a success status (the body is not read)."""
    try:
        with (
            httpx.Client(timeout=timeout_seconds, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            return response.is_success
    except (httpx.HTTPError, httpx.InvalidURL):
        return False


def _sql_url(source: str) -> URL:
    try:
        return make_url(source)
    except (sa_exc.ArgumentError, ValueError) as exc:
        # SQLAlchemy cannot hide the password of a URL it cannot parse, so mask it by hand.
        masked = re.sub(r"(://[^/@:]*:)[^/]*@", r"\1***@", source)
        msg = (
            f"'{masked}' is not a valid SQLAlchemy URL. Use the form "
            "dialect+driver://user:password@host:port/database, e.g. "
            "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        )
        raise IngestionError(msg) from exc


def _first_line(exc: BaseException) -> str:
    """The driver's own message, unwrapped from pandas' and SQLAlchemy's wrappers."""
    if isinstance(exc, pd.errors.DatabaseError) and exc.__cause__ is not None:
        exc = exc.__cause__
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


def _read_chunks(
    statement: sa.TextClause | sa.Select[Any],
    connection: sa.Connection,
    shown: str,
    progress: ProgressCallback | None,
) -> list[pd.DataFrame]:
    # Connected already, so a failure here is the query's fault, not the network's.
    chunks: list[pd.DataFrame] = []
    rows = 0
    try:
        for chunk in pd.read_sql(statement, connection, chunksize=50_000):
            chunks.append(chunk)
            rows += len(chunk)
            if progress is not None:
                progress(rows, None)
    except (sa_exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:
        msg = f"the query against {shown} failed: {_first_line(exc)}. Fix the query or table name"
        raise IngestionError(msg) from exc
    return chunks


def read_sql(
    source: str,
    query: str | None,
    table: str | None,
    progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Run ``query`` (or select all of ``table``) against the database at ``source``.

    Raises:
        IngestionError: the URL, dialect, query or table is wrong.
        SourceUnreachableError: the database cannot be reached.
    """
    url = _sql_url(source)
    shown = url.render_as_string(hide_password=True)
    if not query and not table:
        msg = f"a SQL source needs a query: pass --query 'SELECT ...' or --table NAME (source {shown})"
        raise IngestionError(msg)
    try:
        engine = sa.create_engine(url)
    except (sa_exc.NoSuchModuleError, ModuleNotFoundError) as exc:
        msg = f"unknown or uninstalled database dialect '{url.drivername}' in {shown}: use e.g. postgresql+psycopg or sqlite"
        raise IngestionError(msg) from exc
    if query:
        statement: sa.TextClause | sa.Select[Any] = sa.text(query)
    else:
        schema, _, name = (table or "").rpartition(".")
        statement = sa.select(sa.text("*")).select_from(sa.table(name, schema=schema or None))
    try:
        with engine.connect() as connection:
            chunks = _read_chunks(statement, connection, shown, progress)
    except sa_exc.OperationalError as exc:
        reason = _first_line(exc)
        msg = f"cannot connect to or query the database at {shown}: {reason}. Check host, port, database name, credentials and the query"
        raise SourceUnreachableError(msg) from exc
    except sa_exc.SQLAlchemyError as exc:
        reason = _first_line(exc)
        msg = f"the query against {shown} failed: {reason}. Fix the query or table name"
        raise IngestionError(msg) from exc
    finally:
        engine.dispose()
    if not chunks:
        return pd.DataFrame()
    return pd.concat(chunks, ignore_index=True)


__all__ = [
    "OFFLINE_HINT",
    "ProgressCallback",
    "SourceKind",
    "classify_source",
    "describe_source",
    "download",
    "read_sql",
    "url_reachable",
    "verify_checksum",
]
