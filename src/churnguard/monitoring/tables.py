"""The serving store's tables, and the fast way logged predictions get into them.

Labels (``/feedback``) and logged predictions share one database, described by one
:data:`metadata`. Prediction rows go to the database through the driver (sqlite: multi-row
``INSERT … VALUES``; PostgreSQL: ``COPY``): per row, SQLAlchemy's parameter processing cost more
than the insert itself. Times are stored in UTC (sqlite keeps no offset, so they are converted).
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, NotRequired

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    false,
    insert,
    inspect,
    text,
)
from sqlalchemy.engine import Connection
from typing_extensions import TypedDict

metadata = MetaData()
_ID = BigInteger().with_variant(Integer, "sqlite")  # sqlite autoincrements INTEGER keys only
feedback_table = Table(
    "churnguard_feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(128), nullable=True),
    Column("customer_id", String(64), nullable=True),
    Column("churn", Boolean, nullable=False),
    Column("observed_at", DateTime(timezone=True), nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("ix_churnguard_feedback_request_id", "request_id"),
    Index("ix_churnguard_feedback_customer_id", "customer_id"),
)
predictions_table = Table(
    "churnguard_predictions",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    # Unique per logged row: a replayed spool segment never inserts a row twice. Not the
    # request id: clients choose X-Request-ID and may reuse one.
    Column("record_id", String(64), nullable=False),
    Column("request_id", String(128), nullable=False),
    Column("row_index", Integer, nullable=False),
    Column("customer_id", String(64), nullable=True),
    Column("model_version", String(255), nullable=False),
    Column("model_alias", String(255), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("features", JSON, nullable=False),
    Column("churn_probability", Double, nullable=False),
    Column("churn", Boolean, nullable=False),
    Column("latency_ms", Double, nullable=False),
    Column("endpoint", String(64), nullable=False),
    # Which model of an experiment scored the row, and whether that score was a shadow one
    # (computed in the background, never returned to the client).
    Column("variant", String(16), nullable=False, default="champion", server_default="champion"),
    Column("shadow", Boolean, nullable=False, default=False, server_default=false()),
    UniqueConstraint("record_id", name="uq_churnguard_predictions_record_id"),
    Index("ix_churnguard_predictions_request_id", "request_id", "row_index"),
    Index("ix_churnguard_predictions_customer_id", "customer_id"),
    Index("ix_churnguard_predictions_created_at", "created_at"),
)
_INSERT_COLUMNS = (
    "record_id",
    "request_id",
    "row_index",
    "customer_id",
    "model_version",
    "model_alias",
    "created_at",
    "features",
    "churn_probability",
    "churn",
    "latency_ms",
    "endpoint",
    "variant",
    "shadow",
)
_json = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


class PredictionRow(TypedDict):
    """One logged prediction, as written to ``churnguard_predictions``."""

    record_id: str
    request_id: str
    row_index: int
    customer_id: str | None
    model_version: str
    model_alias: str | None
    created_at: datetime
    #: The 19 input fields, or their JSON object text already encoded.
    features: dict[str, str | int | float] | str
    churn_probability: float
    churn: bool
    latency_ms: float
    endpoint: str
    #: ``champion`` (the default) or ``challenger``.
    variant: NotRequired[str]
    #: True for the challenger's shadow score, whose answer was not returned.
    shadow: NotRequired[bool]


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive time (what sqlite returns) is taken as UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _driver_values(
    rows: Sequence[PredictionRow], stamp: Callable[[datetime], Any]
) -> Iterator[tuple[Any, ...]]:
    """Rows as driver tuples in ``_INSERT_COLUMNS`` order (features as JSON text)."""
    stamps: dict[datetime, Any] = {}  # the rows of one request share their time
    for row in rows:
        created = row["created_at"]
        if created not in stamps:
            stamps[created] = stamp(utc(created))
        yield (
            row["record_id"],
            row["request_id"],
            row["row_index"],
            row["customer_id"],
            row["model_version"],
            row["model_alias"],
            stamps[created],
            features if isinstance(features := row["features"], str) else _json(features),
            row["churn_probability"],
            row["churn"],
            row["latency_ms"],
            row["endpoint"],
            row.get("variant", "champion"),
            row.get("shadow", False),
        )


def _insert_sqlite(cursor: Any, rows: Sequence[PredictionRow]) -> int:
    # SQLAlchemy's sqlite DateTime stores and reads back this text: UTC, no offset, microseconds.
    values = list(
        _driver_values(
            rows, lambda moment: moment.replace(tzinfo=None).isoformat(" ", "microseconds")
        )
    )
    # Many rows per statement, not executemany: the sqlite3 module releases and retakes the
    # GIL around every row it steps, and with request threads busy each retake waits a switch
    # interval, so a thousand-row executemany crawls under load. One statement steps once.
    width = len(_INSERT_COLUMNS)
    limit = cursor.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    per_statement = max(1, min(_SQLITE_ROWS_PER_STATEMENT, limit // width))
    inserted = 0
    for start in range(0, len(values), per_statement):
        chunk = values[start : start + per_statement]
        cursor.execute(_sqlite_insert(len(chunk)), [v for row in chunk for v in row])
        inserted += int(cursor.rowcount)
    return inserted


#: Rows per multi-row INSERT on sqlite (bounded by its host-parameter limit too).
_SQLITE_ROWS_PER_STATEMENT = 500


@functools.lru_cache(maxsize=8)
def _sqlite_insert(rows: int) -> str:
    columns = ", ".join(_INSERT_COLUMNS)
    marks = "(" + ", ".join("?" * len(_INSERT_COLUMNS)) + ")"
    return (
        f"INSERT INTO {predictions_table.name} ({columns}) VALUES "  # noqa: S608
        + ", ".join([marks] * rows)
        + " ON CONFLICT (record_id) DO NOTHING"
    )


def _insert_postgresql(cursor: Any, rows: Sequence[PredictionRow]) -> int:
    # COPY into a session-private table, then one INSERT … ON CONFLICT DO NOTHING: a fraction
    # of executemany's per-row cost.
    table, columns = predictions_table.name, ", ".join(_INSERT_COLUMNS)
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {table}_load ON COMMIT DELETE ROWS "  # noqa: S608
        f"AS SELECT {columns} FROM {table} WITH NO DATA"
    )
    with cursor.copy(f"COPY {table}_load ({columns}) FROM STDIN") as copy:
        for values in _driver_values(rows, lambda moment: moment):
            copy.write_row(values)
    cursor.execute(
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table}_load "  # noqa: S608
        "ON CONFLICT (record_id) DO NOTHING"
    )
    return int(cursor.rowcount)


_INSERTS: dict[str, Callable[[Any, Sequence[PredictionRow]], int]] = {
    "sqlite": _insert_sqlite,
    "postgresql": _insert_postgresql,
}


#: Columns added after the first release of the table: (name, DDL type and default per dialect).
_ADDED_COLUMNS = (
    (
        "variant",
        "VARCHAR(16) NOT NULL DEFAULT 'champion'",
        "VARCHAR(16) NOT NULL DEFAULT 'champion'",
    ),
    ("shadow", "BOOLEAN NOT NULL DEFAULT 0", "BOOLEAN NOT NULL DEFAULT false"),
)


def upgrade_schema(connection: Connection) -> list[str]:
    """Add the columns an older ``churnguard_predictions`` table lacks (``create_all`` does not).

    Returns:
        The columns added (empty when the table is current or does not exist).
    """
    inspector = inspect(connection)
    if not inspector.has_table(predictions_table.name):
        return []
    present = {column["name"] for column in inspector.get_columns(predictions_table.name)}
    added = []
    for name, sqlite_ddl, other_ddl in _ADDED_COLUMNS:
        if name not in present:
            ddl = sqlite_ddl if connection.dialect.name == "sqlite" else other_ddl
            connection.execute(
                text(f"ALTER TABLE {predictions_table.name} ADD COLUMN {name} {ddl}")
            )
            added.append(name)
    return added


def insert_predictions(connection: Connection, rows: Sequence[PredictionRow]) -> int:
    """Insert ``rows`` in the connection's transaction; a row whose ``record_id`` is stored is skipped.

    Returns:
        How many rows were new (on databases other than sqlite and PostgreSQL: all of them, and
        a row already stored fails the insert instead).
    """
    insert_rows = _INSERTS.get(connection.dialect.name)
    if insert_rows is None:
        decoded = [
            {**row, "features": json.loads(row["features"])}
            if isinstance(row["features"], str)
            else dict(row)
            for row in rows
        ]
        connection.execute(insert(predictions_table), decoded)
        return len(rows)
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        return insert_rows(cursor, rows)
    finally:
        cursor.close()


__all__ = [
    "PredictionRow",
    "feedback_table",
    "insert_predictions",
    "metadata",
    "predictions_table",
    "upgrade_schema",
    "utc",
]
