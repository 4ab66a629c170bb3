"""The prediction log on sqlite: batching, flushes, the spool, its bound, replay, the API's rows."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from churnguard.api.app import create_app
from churnguard.api.metrics import ServiceMetrics, create_metrics
from churnguard.api.schemas import EXAMPLE_CUSTOMER, CustomerRecord
from churnguard.data.schema import FEATURE_COLUMNS, ID_COLUMN
from churnguard.monitoring.config import MonitoringConfig
from churnguard.monitoring.predlog import PredictionLog, ScoredRequest, features_json
from churnguard.monitoring.spool import Spool
from churnguard.monitoring.store import MonitoringStore

# tests/api holds the model-bundle builders; its conftest puts it on sys.path only for its tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from bundles import app_config, make_bundle

pytestmark = pytest.mark.unit
RECORD = CustomerRecord.model_validate(EXAMPLE_CUSTOMER)


def scored(request_id: str, rows: int = 1, customer: bool = True) -> ScoredRequest:
    records = [
        RECORD.model_copy(update={"customerID": f"{request_id}-{i}" if customer else None})
        for i in range(rows)
    ]
    probabilities = [0.1 + 0.8 * i / max(rows, 1) for i in range(rows)]
    return ScoredRequest(
        request_id, "/predict/batch", "3", "champion", 0.4, time.time(), 2.5, records, probabilities
    )


def settings(tmp_path: Path, **changes: Any) -> MonitoringConfig:
    base = {"spool_dir": tmp_path / "spool", "log_flush_seconds": 0.05, "retry_seconds": 0.1}
    return MonitoringConfig(**base | changes)


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def value(metric: Any) -> float:
    return float(metric._value.get())


def keys(store: MonitoringStore) -> list[tuple[str, int]]:
    frame = store.recent_predictions()
    return sorted(zip(frame["request_id"], frame["row_index"], strict=True))


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'serving.db'}"


@pytest.fixture
def metrics() -> ServiceMetrics:
    return create_metrics()


@pytest.fixture
def down_url(tmp_path: Path) -> str:
    """A store that cannot be opened (its path is a folder) until the test removes the folder."""
    path = tmp_path / "down.db"
    path.mkdir()
    return f"sqlite:///{path}"


def test_rows_are_written_in_batches_of_the_configured_size(
    tmp_path: Path, db_url: str, metrics: ServiceMetrics
) -> None:
    log = PredictionLog(db_url, settings(tmp_path, log_batch_size=10), metrics)
    log.store.create()
    sizes: list[int] = []
    write = log.store.write_predictions
    log.store.write_predictions = lambda rows: sizes.append(len(rows)) or write(rows)  # type: ignore[method-assign]
    log.submit(scored("big", 25))
    log.submit(scored("small", 10))
    log.start()
    log.stop()
    assert sizes == [10, 10, 10, 5]
    assert len(keys(log.store)) == 35
    assert value(metrics.log_written) == 35
    assert value(metrics.log_queue_depth) == 0


def test_the_writer_flushes_a_partial_batch_after_flush_seconds(
    tmp_path: Path, db_url: str
) -> None:
    log = PredictionLog(db_url, settings(tmp_path, log_batch_size=1000))
    log.store.create()
    log.start()
    try:
        log.submit(scored("r1", 3))
        wait_for(lambda: log.store.count_predictions() == 3)
    finally:
        log.stop()


def test_stop_writes_everything_still_queued(tmp_path: Path, db_url: str) -> None:
    log = PredictionLog(db_url, settings(tmp_path, log_flush_seconds=3600))
    log.store.create()
    log.start()
    for i in range(5):
        log.submit(scored(f"r{i}", 2))
    log.stop(timeout=10)
    store = MonitoringStore(db_url)
    assert len(keys(store)) == 10
    store.close()


def test_the_rows_carry_what_was_scored(tmp_path: Path, db_url: str) -> None:
    log = PredictionLog(db_url, settings(tmp_path))
    log.store.create()
    log.start()
    log.submit(scored("req-7", 3))
    log.stop()
    frame = log.store.recent_predictions()
    assert frame["customer_id"].tolist() == ["req-7-0", "req-7-1", "req-7-2"]
    assert frame["churn_probability"].tolist() == pytest.approx([0.1, 0.1 + 0.8 / 3, 0.1 + 1.6 / 3])
    assert frame["churn"].tolist() == [False, False, True]
    expected = {c: EXAMPLE_CUSTOMER[c] for c in FEATURE_COLUMNS}
    assert frame[list(FEATURE_COLUMNS)].iloc[0].to_dict() == expected
    assert set(frame["latency_ms"]) == {2.5}
    assert set(frame["model_alias"]) == {"champion"}


def test_a_batch_given_as_columns_is_stored_as_its_records_would_be(
    tmp_path: Path, db_url: str
) -> None:
    by_records = scored("req-8", 4)
    columns: dict[str, list[Any]] = {
        c: [getattr(r, c) for r in by_records.records] for c in (*FEATURE_COLUMNS, ID_COLUMN)
    }
    by_columns = by_records._replace(request_id="req-9", records=[], columns=columns)
    log = PredictionLog(db_url, settings(tmp_path))
    log.store.create()
    log.start()
    log.submit(by_records)
    log.submit(by_columns)
    log.stop()
    frame = log.store.recent_predictions()
    first, second = frame[frame["request_id"] == "req-8"], frame[frame["request_id"] == "req-9"]
    assert len(second) == 4
    shown = [*FEATURE_COLUMNS, "customer_id", "churn_probability", "churn", "row_index"]
    assert second[shown].reset_index(drop=True).equals(first[shown].reset_index(drop=True))


def test_features_json_equals_each_record_serialised_alone() -> None:
    records = [
        RECORD.model_copy(update={"tenure": t, "MonthlyCharges": 20.05 + t, "Contract": c})
        for t, c in [(0, "Month-to-month"), (72, "Two year"), (5, "One year")]
    ]
    columns = {c: [getattr(r, c) for r in records] for c in FEATURE_COLUMNS}
    built = [json.loads(text) for text in features_json(columns)]
    assert built == [json.loads(r.model_dump_json(exclude={ID_COLUMN})) for r in records]
    assert list(built[0]) == list(FEATURE_COLUMNS)


def test_features_json_renders_numbers_as_json_and_refuses_nan() -> None:
    columns: dict[str, list[Any]] = {c: [EXAMPLE_CUSTOMER[c]] * 3 for c in FEATURE_COLUMNS}
    columns["tenure"] = [0, 12, 72]
    columns["MonthlyCharges"] = [0.1 + 0.2, 1e-7, 118.75]
    columns["SeniorCitizen"] = [True, 0, 1]  # mixed types: rendered value by value
    rows = [json.loads(text) for text in features_json(columns)]
    assert [r["tenure"] for r in rows] == [0, 12, 72]
    assert [r["MonthlyCharges"] for r in rows] == [0.1 + 0.2, 1e-7, 118.75]
    assert [r["SeniorCitizen"] for r in rows] == [True, 0, 1]
    columns["TotalCharges"] = [1.0, float("nan"), 2.0]
    with pytest.raises(ValueError, match="JSON compliant"):
        features_json(columns)


def test_a_full_queue_sends_rows_to_the_spool_and_they_arrive_later(
    tmp_path: Path, db_url: str, metrics: ServiceMetrics
) -> None:
    log = PredictionLog(db_url, settings(tmp_path, log_queue_size=5), metrics)
    log.store.create()
    for i in range(3):  # not started: the queue only fills
        log.submit(scored(f"r{i}", 2))
    assert value(metrics.log_queue_depth) == 4
    assert value(metrics.log_spooled) == 2
    segments = list((tmp_path / "spool").glob("*.jsonl"))
    assert len(segments) == 1
    assert len(segments[0].read_text().splitlines()) == 2
    log.start()
    log.stop()
    assert keys(log.store) == [(f"r{i}", j) for i in range(3) for j in range(2)]
    assert not list((tmp_path / "spool").glob("*.jsonl"))
    assert value(metrics.log_spooled) == 0
    assert value(metrics.log_dropped) == 0


def test_rows_given_as_columns_count_as_a_tenth_against_the_queue_bound(
    tmp_path: Path, db_url: str, metrics: ServiceMetrics
) -> None:
    log = PredictionLog(db_url, settings(tmp_path, log_queue_size=10), metrics)
    log.store.create()

    def as_columns(item: ScoredRequest) -> ScoredRequest:
        columns = {c: [getattr(r, c) for r in item.records] for c in (*FEATURE_COLUMNS, ID_COLUMN)}
        return item._replace(records=[], columns=columns)

    log.submit(as_columns(scored("wide", 100)))  # weighs 10: fits exactly
    assert value(metrics.log_queue_depth) == 100
    assert value(metrics.log_spooled) == 0
    log.submit(as_columns(scored("more", 10)))  # the bound is reached: spooled
    log.submit(scored("records", 1))
    assert value(metrics.log_spooled) == 11
    log.start()
    log.stop()
    assert len(keys(log.store)) == 111


def test_an_outage_spools_and_every_row_arrives_once_when_the_store_is_back(
    tmp_path: Path, down_url: str, metrics: ServiceMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    log = PredictionLog(down_url, settings(tmp_path, log_batch_size=4), metrics)
    caplog.set_level(logging.INFO, logger="churnguard.monitoring.predlog")
    log.start()
    try:
        for i in range(6):
            log.submit(scored(f"r{i}", 3))
            time.sleep(0.03)
        wait_for(lambda: value(metrics.log_spooled) == 18)
        assert value(metrics.log_written) == 0
        Path(down_url.removeprefix("sqlite:///")).rmdir()  # the database can be opened again
        wait_for(lambda: value(metrics.log_written) == 18)
    finally:
        log.stop()
    assert keys(log.store) == [(f"r{i}", j) for i in range(6) for j in range(3)]
    assert value(metrics.log_spooled) == 0
    assert not list((tmp_path / "spool").iterdir())
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "prediction store unavailable: spooling records until it is back"
    ]
    (back,) = [r for r in caplog.records if r.getMessage().startswith("prediction store back")]
    assert (back.spooled, back.replayed, back.dropped) == (18, 18, 0)  # type: ignore[attr-defined]


def test_beyond_the_spool_bound_rows_are_dropped_and_counted(
    tmp_path: Path, down_url: str, metrics: ServiceMetrics
) -> None:
    log = PredictionLog(down_url, settings(tmp_path, spool_max_bytes=4096), metrics)
    log.start()
    try:
        log.submit(scored("big", 20))
        wait_for(lambda: value(metrics.log_dropped) > 0)
    finally:
        log.stop()
    spooled = value(metrics.log_spooled)
    assert 0 < spooled < 20
    assert spooled + value(metrics.log_dropped) == 20
    on_disk = sum(p.stat().st_size for p in (tmp_path / "spool").glob("*.jsonl"))
    assert on_disk <= 4096


def test_a_spool_left_by_an_earlier_process_is_replayed_at_start(
    tmp_path: Path, down_url: str
) -> None:
    first = PredictionLog(down_url, settings(tmp_path))
    first.start()
    first.submit(scored("before-restart", 4))
    first.stop()
    assert len(list((tmp_path / "spool").glob("*.jsonl"))) == 1
    Path(down_url.removeprefix("sqlite:///")).rmdir()
    second = PredictionLog(down_url, settings(tmp_path))
    second.store.create()
    second.start()
    second.stop()
    assert keys(second.store) == [("before-restart", i) for i in range(4)]
    assert not list((tmp_path / "spool").glob("*.jsonl"))


def test_a_segment_replayed_after_its_rows_were_committed_adds_no_duplicate(
    tmp_path: Path, db_url: str
) -> None:
    log = PredictionLog(db_url, settings(tmp_path))
    log.store.create()
    rows = log._rows([scored("twice", 3)])
    log.store.write_predictions(rows)
    Spool(tmp_path / "spool", 1 << 20).append(rows)  # a crash before the segment was deleted
    log.start()
    log.stop()
    assert keys(log.store) == [("twice", i) for i in range(3)]
    assert not list((tmp_path / "spool").glob("*.jsonl"))


def test_half_written_and_corrupt_segments_are_never_read_as_data(
    tmp_path: Path, db_url: str, metrics: ServiceMetrics
) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    half = spool_dir / ".00000000000000000001-x.jsonl.tmp"
    half.write_text('{"record_id": "half')
    os.utime(half, (time.time() - 120, time.time() - 120))  # a crash's leftover, not in progress
    (spool_dir / ".00000000000000000003-y.jsonl.tmp").write_text("{")  # another worker's, now
    (spool_dir / "00000000000000000002-x.jsonl").write_text('{"not": "a row"}\n')
    log = PredictionLog(db_url, settings(tmp_path), metrics)
    log.store.create()
    log.start()
    log.stop()
    assert log.store.count_predictions() == 0
    assert sorted(p.name for p in spool_dir.iterdir()) == [
        ".00000000000000000003-y.jsonl.tmp",
        "00000000000000000002-x.bad",
    ]
    assert value(metrics.log_dropped) == 1


def test_submit_never_raises_and_counts_rows_it_cannot_take(
    tmp_path: Path, db_url: str, metrics: ServiceMetrics
) -> None:
    log = PredictionLog(db_url, settings(tmp_path), metrics)
    log.submit([{"request_id": "no-features"}])  # refused at once
    log.submit(scored("mismatched", 1)._replace(probabilities=[0.1, 0.2]))  # by the writer
    log.submit(scored("fine", 2))  # in the same round as the refused one: still written
    log.store.create()
    log.start()
    log.stop()
    assert value(metrics.log_dropped) == 3
    assert keys(log.store) == [("fine", 0), ("fine", 1)]


def test_ready_rows_are_accepted_too(tmp_path: Path, db_url: str) -> None:
    log = PredictionLog(db_url, settings(tmp_path))
    log.store.create()
    log.start()
    log.submit(
        [
            {
                "request_id": "ready",
                "row_index": 0,
                "customer_id": None,
                "model_version": "3",
                "model_alias": None,
                "features": EXAMPLE_CUSTOMER,
                "churn_probability": 0.5,
                "churn": True,
                "latency_ms": 1.0,
                "endpoint": "/simulate",
            }
        ]
    )
    log.stop()
    frame = log.store.recent_predictions()
    assert frame[["request_id", "endpoint", "churn"]].values.tolist() == [
        ["ready", "/simulate", True]
    ]


# -- through the API ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("bundle") / "model", n_estimators=10)[0]


def test_api_predictions_are_logged_and_feedback_joins_them(bundle: Path, tmp_path: Path) -> None:
    store_path = tmp_path / "serving.db"
    config = app_config(str(bundle), store_path, api_key=SecretStr("k" * 32))
    config = config.model_copy(update={"monitoring": settings(tmp_path)})
    second = EXAMPLE_CUSTOMER | {"customerID": "0002-BBBBB", "tenure": 60, "Contract": "Two year"}
    with TestClient(create_app(config)) as client:
        single = client.post("/predict", json=EXAMPLE_CUSTOMER, headers={"X-Request-ID": "one"})
        batch = client.post(
            "/predict/batch",
            json={"records": [EXAMPLE_CUSTOMER, second]},
            headers={"X-Request-ID": "two"},
        )
        assert client.post("/explain", json=EXAMPLE_CUSTOMER).status_code == 200
        labels = [
            {"request_id": "one", "churn": True},
            {"request_id": "two", "customerID": "0002-BBBBB", "churn": False},
        ]
        response = client.post(
            "/feedback", json={"labels": labels}, headers={"X-API-Key": "k" * 32}
        )
        assert response.status_code == 200
        written = "churnguard_prediction_log_written_total 3.0"
        wait_for(lambda: written in client.get("/metrics").text)
        exposition = client.get("/metrics").text
        assert "churnguard_prediction_log_queue_depth 0.0" in exposition
        assert "churnguard_prediction_log_dropped_total 0.0" in exposition
    # Leaving the client stopped the log: everything is written.
    store = MonitoringStore(f"sqlite:///{store_path}")
    frame = store.recent_predictions()
    assert frame[["request_id", "row_index", "customer_id", "endpoint"]].values.tolist() == [
        ["one", 0, "7590-VHVEG", "/predict"],
        ["two", 0, "7590-VHVEG", "/predict/batch"],
        ["two", 1, "0002-BBBBB", "/predict/batch"],
    ]
    probabilities = [single.json()["churn_probability"]] + [
        p["churn_probability"] for p in batch.json()["predictions"]
    ]
    assert frame["churn_probability"].tolist() == probabilities
    assert frame["churn"].tolist() == [p >= 0.4 for p in probabilities]
    assert set(frame["model_version"]) == {"bundle"}
    assert (frame["latency_ms"] > 0).all()
    assert frame.loc[2, "tenure"] == 60
    labeled = store.labeled_predictions()
    assert labeled[["request_id", "customer_id", "actual"]].values.tolist() == [
        ["one", "7590-VHVEG", 1],
        ["two", "0002-BBBBB", 0],
    ]
    assert labeled["churn_probability"].tolist() == [probabilities[0], probabilities[2]]
    store.close()


def test_v2_inferences_are_logged_under_the_response_id(bundle: Path, tmp_path: Path) -> None:
    store_path = tmp_path / "serving.db"
    config = app_config(str(bundle), store_path)
    config = config.model_copy(update={"monitoring": settings(tmp_path)})
    inputs = [
        {"name": c, "shape": [1], "datatype": "BYTES", "data": [EXAMPLE_CUSTOMER[c]]}
        for c in FEATURE_COLUMNS
    ]
    with TestClient(create_app(config)) as client:
        response = client.post("/v2/models/churnguard/infer", json={"id": "v2-1", "inputs": inputs})
        assert response.status_code == 200
    store = MonitoringStore(f"sqlite:///{store_path}")
    frame = store.recent_predictions()
    assert frame["request_id"].tolist() == ["v2-1"]
    assert frame["endpoint"].tolist() == ["/v2/models/churnguard/infer"]
    assert frame["churn_probability"].tolist() == response.json()["outputs"][0]["data"]
    store.close()


def test_logging_can_be_turned_off(bundle: Path, tmp_path: Path) -> None:
    store_path = tmp_path / "serving.db"
    config = app_config(str(bundle), store_path)
    config = config.model_copy(update={"monitoring": settings(tmp_path, log_predictions=False)})
    with TestClient(create_app(config)) as client:
        assert client.app.state.prediction_log is None  # type: ignore[attr-defined]
        assert client.post("/predict", json=EXAMPLE_CUSTOMER).status_code == 200
    store = MonitoringStore(f"sqlite:///{store_path}")
    assert store.count_predictions() == 0
    store.close()
