"""The serving store: logged predictions and ground-truth labels, in one SQL database.

sqlite by default (embedded, one file), PostgreSQL in server mode
(``serving.store_url=postgresql+psycopg://…``). ``/feedback`` writes labels, the prediction log
(:mod:`churnguard.monitoring.predlog`) writes predictions, and drift and quality read them back
as DataFrames. The tables are described in :mod:`churnguard.monitoring.tables`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import (
    Engine,
    Select,
    create_engine,
    event,
    func,
    insert,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from churnguard.data.schema import CATEGORIES, FEATURE_COLUMNS, FLOAT_COLUMNS, INTEGER_COLUMNS
from churnguard.errors import ChurnguardError
from churnguard.monitoring.tables import (
    PredictionRow,
    feedback_table,
    insert_predictions,
    metadata,
    predictions_table,
    upgrade_schema,
    utc,
)

logger = logging.getLogger(__name__)

_LABELED_COLUMNS = (
    "request_id",
    "customer_id",
    "model_version",
    "created_at",
    "churn_probability",
    "churn",
    "actual",
    "variant",
    "shadow",
    "request_key",
)


class StoreUnavailableError(ChurnguardError):
    """The serving store cannot be reached or written."""

    exit_code = 8


@dataclass(frozen=True)
class Label:
    """One ground-truth label for an earlier prediction."""

    churn: bool
    request_id: str | None = None
    customer_id: str | None = None
    observed_at: datetime | None = None


class MonitoringStore:
    """Write and read logged predictions and feedback labels in a SQL database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = _engine(url)

    def create(self) -> None:
        """Create the tables if they do not exist.

        Raises:
            StoreUnavailableError: the database cannot be reached.
        """
        try:
            with self.engine.begin() as connection:
                added = upgrade_schema(connection)
                metadata.create_all(connection)
        except SQLAlchemyError as exc:
            raise StoreUnavailableError(self._problem(exc)) from exc
        if added:
            logger.info("prediction store upgraded", extra={"added_columns": added})

    def write_predictions(self, rows: Sequence[PredictionRow]) -> int:
        """Insert ``rows`` in one transaction, skipping rows already stored (same ``record_id``).

        The rows go straight to the driver: see :func:`~churnguard.monitoring.tables.insert_predictions`.

        Returns:
            How many rows were new.

        Raises:
            StoreUnavailableError: the database cannot be reached or written; nothing was stored.
        """
        if not rows:
            return 0
        try:
            with self.engine.begin() as connection:
                return insert_predictions(connection, rows)
        except (SQLAlchemyError, self.engine.dialect.loaded_dbapi.Error) as exc:
            raise StoreUnavailableError(self._problem(exc)) from exc

    def add_labels(self, labels: Sequence[Label]) -> int:
        """Store ``labels`` in one transaction; all or none.

        Raises:
            StoreUnavailableError: the database cannot be reached or written.
        """
        now = datetime.now(UTC)
        rows = [
            {
                "request_id": label.request_id,
                "customer_id": label.customer_id,
                "churn": label.churn,
                "observed_at": None if label.observed_at is None else utc(label.observed_at),
                "received_at": now,
            }
            for label in labels
        ]
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(feedback_table), rows)
        except SQLAlchemyError as exc:
            raise StoreUnavailableError(self._problem(exc)) from exc
        return len(rows)

    def labels(self) -> list[Label]:
        """Every stored label, oldest first (times in UTC).

        Raises:
            StoreUnavailableError: the database cannot be reached or read.
        """
        rows = self._fetch(select(feedback_table).order_by(feedback_table.c.id))
        return [
            Label(
                churn=row.churn,
                request_id=row.request_id,
                customer_id=row.customer_id,
                observed_at=None if row.observed_at is None else utc(row.observed_at),
            )
            for row in rows
        ]

    def count_predictions(self) -> int:
        """How many predictions are logged.

        Raises:
            StoreUnavailableError: the database cannot be reached or read.
        """
        query = select(func.count()).select_from(predictions_table)
        return int(self._fetch(query)[0][0])

    def recent_predictions(
        self,
        limit: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        include_shadow: bool = False,
    ) -> pd.DataFrame:
        """The latest ``limit`` predictions made in ``[since, until)``, oldest first.

        Naive times are read as UTC. Only the answers served count unless ``include_shadow``:
        a challenger's shadow scores describe no traffic of their own (drift windows).

        Returns:
            The 19 feature columns with the processed dtypes, then ``churn_probability``,
            ``churn``, ``model_version``, ``model_alias``, ``created_at`` (UTC), ``request_id``,
            ``row_index``, ``customer_id``, ``latency_ms``, ``endpoint``, ``variant`` and
            ``shadow``.

        Raises:
            ValueError: ``limit`` is negative.
            StoreUnavailableError: the database cannot be reached or read.
        """
        if limit is not None and limit < 0:
            msg = f"limit must be >= 0 (or None for every prediction), got {limit}"
            raise ValueError(msg)
        p = predictions_table
        query = select(p).order_by(p.c.created_at.desc(), p.c.id.desc())
        if not include_shadow:
            query = query.where(p.c.shadow.is_(False))
        if since is not None:
            query = query.where(p.c.created_at >= utc(since))
        if until is not None:
            query = query.where(p.c.created_at < utc(until))
        if limit is not None:
            query = query.limit(limit)
        return _predictions_frame(self._fetch(query)[::-1])

    def labeled_predictions(self, since: datetime | None = None) -> pd.DataFrame:
        """Logged predictions joined to their feedback label, oldest prediction first.

        A label names its prediction by request id: with a customerID, the row of that request
        for that customer; without one, the request's only row (a label for a multi-record
        request without customerID is ambiguous and left out). A label matching no request
        joins by customerID: that customer's latest prediction made at or before the label's
        ``observed_at`` (``received_at`` when not given). A prediction labeled twice keeps the
        latest label.

        A label joins the served answer and, in shadow mode, the challenger's shadow score of
        the same record too (matched the same way, among shadow rows): the two rows share
        their ``request_key``, so the variants compare on the same customers (paired).

        Args:
            since: Only predictions made at or after this time (naive = UTC).

        Returns:
            Columns ``request_id``, ``customer_id``, ``model_version``, ``created_at`` (UTC),
            ``churn_probability``, ``churn`` (the predicted label), ``actual`` (0/1),
            ``variant``, ``shadow`` and ``request_key`` (request id and row index: the record).

        Raises:
            StoreUnavailableError: the database cannot be reached or read.
        """
        matched = _label_matches().subquery()
        query = select(matched).where(matched.c.rank == 1)
        if since is not None:
            query = query.where(matched.c.created_at >= utc(since))
        frame = pd.DataFrame(
            [row._asdict() for row in self._fetch(query)],
            columns=[*_LABELED_COLUMNS[:-1], "row_index", "prediction_id", "label_id"],
        )
        frame["request_key"] = frame["request_id"] + "#" + frame["row_index"].astype(str)
        frame = frame.sort_values(["prediction_id", "label_id"]).drop_duplicates(
            "prediction_id", keep="last"
        )
        frame = frame.sort_values(["created_at", "prediction_id"], kind="stable")
        out = frame[list(_LABELED_COLUMNS)].reset_index(drop=True)
        out["created_at"] = pd.to_datetime(out["created_at"], utc=True)
        out["churn_probability"] = out["churn_probability"].astype("float64")
        out["churn"] = out["churn"].astype("bool")
        out["actual"] = out["actual"].astype("bool").astype("int64")
        out["variant"] = out["variant"].astype("str")
        out["shadow"] = out["shadow"].astype("bool")
        return out

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    def _fetch(self, query: Select[Any]) -> list[Any]:
        try:
            with self.engine.connect() as connection:
                return list(connection.execute(query).all())
        except SQLAlchemyError as exc:
            raise StoreUnavailableError(self._problem(exc)) from exc

    def _problem(self, exc: Exception) -> str:
        shown = make_url(self.url).render_as_string(hide_password=True)
        return f"the serving store {shown} is unavailable ({type(exc).__name__}): check serving.store_url and that the database is up"


def _label_matches() -> Select[Any]:
    """Every (label, prediction) candidate, ranked per label and per served/shadow row.

    Request-id matches come first. A request's shadow rows repeat its served rows, so "the
    request's only row" counts the served rows alone.
    """
    p, f = predictions_table, feedback_table
    per_request = (
        select(p.c.request_id, func.count().label("rows"))
        .where(p.c.request_id.in_(select(f.c.request_id).where(f.c.request_id.is_not(None))))
        .where(p.c.shadow.is_(False))
        .group_by(p.c.request_id)
        .subquery()
    )
    single = per_request.c.rows == 1
    shown = (
        f.c.id.label("label_id"),
        f.c.churn.label("actual"),
        p.c.id.label("prediction_id"),
        p.c.request_id,
        p.c.customer_id,
        p.c.model_version,
        p.c.created_at,
        p.c.churn_probability,
        p.c.churn,
        p.c.variant,
        p.c.shadow,
        p.c.row_index,
    )
    by_request = (
        select(*shown, literal_column("0").label("priority"))
        .join(p, p.c.request_id == f.c.request_id)
        .join(per_request, per_request.c.request_id == p.c.request_id)
        .where(
            (p.c.customer_id == f.c.customer_id)
            | (single & (f.c.customer_id.is_(None) | p.c.customer_id.is_(None)))
        )
    )
    observed = func.coalesce(f.c.observed_at, f.c.received_at)
    by_customer = (
        select(*shown, literal_column("1").label("priority"))
        .join(p, (p.c.customer_id == f.c.customer_id) & (p.c.created_at <= observed))
        .where(f.c.customer_id.is_not(None))
    )
    candidates = union_all(by_request, by_customer).subquery()
    c = candidates.c
    rank = func.row_number().over(
        partition_by=(c.label_id, c.shadow),
        order_by=(c.priority, c.created_at.desc(), c.prediction_id.desc()),
    )
    return select(candidates, rank.label("rank"))


def _predictions_frame(rows: Sequence[Any]) -> pd.DataFrame:
    features = pd.DataFrame.from_records(
        [row.features for row in rows], columns=list(FEATURE_COLUMNS)
    )
    for column in INTEGER_COLUMNS:
        features[column] = features[column].astype("int64")
    for column in FLOAT_COLUMNS:
        features[column] = features[column].astype("float64")
    for column in CATEGORIES:
        features[column] = features[column].astype("str")
    meta = pd.DataFrame(
        {
            "churn_probability": pd.Series([r.churn_probability for r in rows], dtype="float64"),
            "churn": pd.Series([r.churn for r in rows], dtype="bool"),
            "model_version": pd.Series([r.model_version for r in rows], dtype="str"),
            "model_alias": pd.Series([r.model_alias for r in rows], dtype="object"),
            "created_at": pd.to_datetime(pd.Series([r.created_at for r in rows]), utc=True),
            "request_id": pd.Series([r.request_id for r in rows], dtype="str"),
            "row_index": pd.Series([r.row_index for r in rows], dtype="int64"),
            "customer_id": pd.Series([r.customer_id for r in rows], dtype="object"),
            "latency_ms": pd.Series([r.latency_ms for r in rows], dtype="float64"),
            "endpoint": pd.Series([r.endpoint for r in rows], dtype="str"),
            "variant": pd.Series([r.variant for r in rows], dtype="str"),
            "shadow": pd.Series([r.shadow for r in rows], dtype="bool"),
        }
    )
    return pd.concat([features, meta], axis=1)


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, pool_pre_ping=True)
        event.listen(engine, "connect", _sqlite_wal)
        return engine
    connect_args = {"connect_timeout": 10} if backend == "postgresql" else {}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def _sqlite_wal(connection: Any, _record: Any) -> None:
    # Write-ahead logging: readers (monitoring) never block the prediction log's writer.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


__all__ = [
    "Label",
    "MonitoringStore",
    "PredictionRow",
    "StoreUnavailableError",
    "feedback_table",
    "metadata",
    "predictions_table",
]
