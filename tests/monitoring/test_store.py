"""The serving store on sqlite and on the machine's real PostgreSQL (one fresh schema per test)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from churnguard.data.preprocess import coerce_types
from churnguard.data.schema import FEATURE_COLUMNS, ID_COLUMN
from churnguard.data.synthetic import generate_customers
from churnguard.monitoring.store import (
    Label,
    MonitoringStore,
    PredictionRow,
    StoreUnavailableError,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CUSTOMERS = coerce_types(generate_customers(30, seed=3)).to_dict("records")


@pytest.fixture
def store(monitoring_store: MonitoringStore) -> MonitoringStore:
    """The shared empty store (tests/conftest.py), on sqlite and PostgreSQL."""
    return monitoring_store


def row(
    request_id: str,
    index: int = 0,
    customer_id: str | None = None,
    created_at: datetime = T0,
    probability: float = 0.3,
    **changes: Any,
) -> PredictionRow:
    customer = CUSTOMERS[(len(request_id) * 7 + index) % len(CUSTOMERS)]
    made: PredictionRow = {
        "record_id": f"{request_id}/{index}/{uuid.uuid4().hex[:6]}",
        "request_id": request_id,
        "row_index": index,
        "customer_id": customer_id,
        "model_version": "3",
        "model_alias": "champion",
        "created_at": created_at,
        "features": {c: customer[c] for c in FEATURE_COLUMNS},
        "churn_probability": probability,
        "churn": probability >= 0.4,
        "latency_ms": 1.5,
        "endpoint": "/predict",
    }
    return made | changes  # type: ignore[return-value]


def test_predictions_round_trip_with_the_processed_dtypes(store: MonitoringStore) -> None:
    rows = [row("batch-1", i, CUSTOMERS[i][ID_COLUMN], T0 + timedelta(seconds=i)) for i in range(5)]
    assert store.write_predictions(rows) == 5
    frame = store.recent_predictions()
    processed = coerce_types(generate_customers(5, seed=3))
    expected = pd.DataFrame([r["features"] for r in rows])[list(FEATURE_COLUMNS)]
    pd.testing.assert_frame_equal(
        frame[list(FEATURE_COLUMNS)], expected.astype(processed[list(FEATURE_COLUMNS)].dtypes)
    )
    assert frame[list(FEATURE_COLUMNS)].dtypes.equals(processed[list(FEATURE_COLUMNS)].dtypes)
    assert frame["customer_id"].tolist() == [CUSTOMERS[i][ID_COLUMN] for i in range(5)]
    assert frame["row_index"].tolist() == list(range(5))
    assert frame["created_at"].tolist() == [T0 + timedelta(seconds=i) for i in range(5)]
    assert str(frame["created_at"].dt.tz) == "UTC"
    assert frame["churn"].dtype == bool
    assert frame[["model_version", "model_alias", "endpoint"]].iloc[0].tolist() == [
        "3",
        "champion",
        "/predict",
    ]


def test_a_row_already_stored_is_skipped_not_duplicated(store: MonitoringStore) -> None:
    first = [row("r1"), row("r2")]
    assert store.write_predictions(first) == 2
    assert store.write_predictions([*first, row("r3")]) == 1
    assert store.count_predictions() == 3
    assert sorted(store.recent_predictions()["request_id"]) == ["r1", "r2", "r3"]


def test_times_with_an_offset_are_stored_as_the_same_instant(store: MonitoringStore) -> None:
    paris = timezone(timedelta(hours=2))
    store.write_predictions([row("r1", created_at=datetime(2026, 3, 1, 14, 0, tzinfo=paris))])
    assert store.recent_predictions()["created_at"].tolist() == [T0]


def test_recent_predictions_window_limit_and_order(store: MonitoringStore) -> None:
    store.write_predictions([row(f"r{i}", created_at=T0 + timedelta(minutes=i)) for i in range(10)])
    assert store.recent_predictions(limit=3)["request_id"].tolist() == ["r7", "r8", "r9"]
    window = store.recent_predictions(
        since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=5)
    )
    assert window["request_id"].tolist() == ["r2", "r3", "r4"]
    naive = store.recent_predictions(since=datetime(2026, 3, 1, 12, 8))
    assert naive["request_id"].tolist() == ["r8", "r9"]
    assert store.recent_predictions(limit=0).empty
    assert list(store.recent_predictions(limit=0).columns) == list(store.recent_predictions())


def test_a_negative_limit_is_refused_with_the_fix(store: MonitoringStore) -> None:
    with pytest.raises(ValueError, match=r"limit must be >= 0 .*got -1"):
        store.recent_predictions(limit=-1)


def test_labels_join_by_request_id_and_by_customer_id(store: MonitoringStore) -> None:
    store.write_predictions(
        [
            row("single", probability=0.9),  # one record, no customerID
            row("batch", 0, "C-1", probability=0.2),
            row("batch", 1, "C-2", probability=0.7),
            row("anon-batch", 0, probability=0.1),
            row("anon-batch", 1, probability=0.2),
            row("early", 0, "C-9", T0 - timedelta(days=2), probability=0.6),
            row("late", 0, "C-9", T0 + timedelta(days=1), probability=0.8),
        ]
    )
    store.add_labels(
        [
            Label(churn=True, request_id="single"),
            Label(churn=False, request_id="batch", customer_id="C-2"),
            Label(churn=True, request_id="anon-batch"),  # two rows, no customer: ambiguous
            Label(churn=True, customer_id="C-9", observed_at=T0),  # before "late": "early"
            Label(churn=True, customer_id="nobody"),
        ]
    )
    labeled = store.labeled_predictions()
    assert list(labeled.columns) == [
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
    ]
    got = {(r.request_id, r.churn_probability, r.actual) for r in labeled.itertuples()}
    assert got == {("single", 0.9, 1), ("batch", 0.7, 0), ("early", 0.6, 1)}
    assert labeled["created_at"].is_monotonic_increasing
    assert labeled["actual"].dtype == "int64"
    assert labeled["churn"].dtype == bool
    assert store.labeled_predictions(since=T0 - timedelta(days=1))["request_id"].tolist() == [
        "single",
        "batch",
    ]


def test_a_customer_label_takes_the_latest_prediction_before_it(store: MonitoringStore) -> None:
    paris = timezone(timedelta(hours=2))
    store.write_predictions(
        [
            row("a", 0, "C-5", T0, probability=0.1),
            row("b", 0, "C-5", T0 + timedelta(hours=1), probability=0.2),
            row("c", 0, "C-5", T0 + timedelta(hours=3), probability=0.3),
        ]
    )
    # 15:30 in Paris is 13:30 UTC: after "b", before "c".
    observed = datetime(2026, 3, 1, 15, 30, tzinfo=paris)
    store.add_labels([Label(churn=False, customer_id="C-5", observed_at=observed)])
    assert store.labeled_predictions()["request_id"].tolist() == ["b"]


def test_a_prediction_labeled_twice_keeps_the_latest_label(store: MonitoringStore) -> None:
    store.write_predictions([row("once")])
    store.add_labels([Label(churn=True, request_id="once")])
    store.add_labels([Label(churn=False, request_id="once")])
    labeled = store.labeled_predictions()
    assert labeled["actual"].tolist() == [0]


def test_no_labels_give_an_empty_frame_with_the_columns(store: MonitoringStore) -> None:
    store.write_predictions([row("r")])
    labeled = store.labeled_predictions()
    assert labeled.empty
    assert "actual" in labeled.columns


def test_labels_are_stored_in_utc(store: MonitoringStore) -> None:
    paris = timezone(timedelta(hours=2))
    observed = datetime(2026, 3, 1, 14, 0, tzinfo=paris)
    store.add_labels([Label(churn=True, request_id="r", observed_at=observed)])
    (label,) = store.labels()
    assert label.observed_at == T0


@pytest.mark.unit
def test_an_unreachable_store_raises_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a-folder.db").mkdir()
    store = MonitoringStore(f"sqlite:///{tmp_path / 'a-folder.db'}")
    with pytest.raises(StoreUnavailableError, match=r"check serving\.store_url"):
        store.write_predictions([row("r")])
    with pytest.raises(StoreUnavailableError, match=r"a-folder\.db"):
        store.recent_predictions()
    store.close()


def test_an_older_prediction_table_gets_the_new_columns(tmp_path: Path) -> None:
    """A store created before the experiment columns existed is upgraded in place."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "CREATE TABLE churnguard_predictions (id INTEGER PRIMARY KEY, record_id VARCHAR(64),"
                " request_id VARCHAR(128), row_index INTEGER, customer_id VARCHAR(64),"
                " model_version VARCHAR(255), model_alias VARCHAR(255), created_at DATETIME,"
                " features JSON, churn_probability FLOAT, churn BOOLEAN, latency_ms FLOAT,"
                " endpoint VARCHAR(64))"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO churnguard_predictions (record_id, request_id, row_index,"
                " model_version, created_at, features, churn_probability, churn, latency_ms,"
                " endpoint) VALUES ('old-1', 'r', 0, '1', '2026-01-01 00:00:00', '{}', 0.5, 1,"
                " 1.0, '/predict')"
            )
        )
    store = MonitoringStore(url)
    store.create()
    store.create()  # idempotent
    columns = {c["name"] for c in sa.inspect(store.engine).get_columns("churnguard_predictions")}
    assert {"variant", "shadow"} <= columns
    with store.engine.connect() as connection:
        row = connection.execute(
            sa.text("SELECT variant, shadow FROM churnguard_predictions")
        ).one()
    assert tuple(row) == ("champion", 0)
