"""The serving store: ground-truth labels sent to ``/feedback`` (SQLAlchemy).

sqlite by default (embedded, no service), PostgreSQL in server mode
(``serving.store_url=postgresql+psycopg://…``). The monitoring stage joins these labels to the
logged predictions by request id or customer id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    insert,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from churnguard.errors import ChurnguardError

metadata = MetaData()
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


class FeedbackStore:
    """Write and read feedback labels in a SQL database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = _engine(url)

    def create(self) -> None:
        """Create the tables if they do not exist.

        Raises:
            StoreUnavailableError: the database cannot be reached.
        """
        try:
            metadata.create_all(self.engine)
        except SQLAlchemyError as exc:
            raise StoreUnavailableError(self._problem(exc)) from exc

    def add(self, labels: Sequence[Label]) -> int:
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
                "observed_at": label.observed_at,
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

    def count(self) -> int:
        """How many labels are stored."""
        with self.engine.connect() as connection:
            return int(
                connection.execute(select(func.count()).select_from(feedback_table)).scalar_one()
            )

    def labels(self) -> list[Label]:
        """Every stored label, oldest first."""
        query = select(feedback_table).order_by(feedback_table.c.id)
        with self.engine.connect() as connection:
            return [
                Label(
                    churn=row.churn,
                    request_id=row.request_id,
                    customer_id=row.customer_id,
                    observed_at=row.observed_at,
                )
                for row in connection.execute(query)
            ]

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    def _problem(self, exc: SQLAlchemyError) -> str:
        shown = make_url(self.url).render_as_string(hide_password=True)
        return f"the serving store {shown} is unavailable ({type(exc).__name__}): check serving.store_url and that the database is up"


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return create_engine(url, pool_pre_ping=True)


__all__ = ["FeedbackStore", "Label", "StoreUnavailableError", "feedback_table"]
