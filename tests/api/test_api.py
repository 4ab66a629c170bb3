"""The prediction API through FastAPI's TestClient, serving a local model bundle."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from bundles import app_config
from fastapi.testclient import TestClient
from scipy.special import logit

from churnguard.api.app import create_app
from churnguard.api.schemas import EXAMPLE_CUSTOMER, CustomerRecord
from churnguard.api.state import records_frame
from churnguard.data.schema import CATEGORIES, FEATURE_COLUMNS

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def client(
    bundle: tuple[Path, object], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    store = tmp_path_factory.mktemp("store") / "serving.db"
    with TestClient(create_app(app_config(str(bundle[0]), store, max_batch=50))) as test_client:
        yield test_client


def test_api_enums_match_the_data_contract() -> None:
    properties = CustomerRecord.model_json_schema()["properties"]
    for column, values in CATEGORIES.items():
        assert tuple(properties[column]["enum"]) == values, column


def test_health_and_readiness_with_a_model(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "reason": None}
    assert client.get("/ready").json()["status"] == "ready"


def test_model_endpoint_describes_the_bundle(
    client: TestClient, bundle: tuple[Path, object]
) -> None:
    info = client.get("/model").json()
    assert info["threshold"] == 0.4
    assert info["data_sha256"] == "ab" * 32
    assert info["model_uri"] == str(bundle[0])


def test_predict_matches_the_model_and_echoes_the_request_id(
    client: TestClient, bundle: tuple[Path, object]
) -> None:
    response = client.post("/predict", json=EXAMPLE_CUSTOMER, headers={"X-Request-ID": "req-42"})
    assert response.status_code == 200
    body = response.json()
    assert response.headers["X-Request-ID"] == "req-42"
    assert body["request_id"] == "req-42"
    frame = records_frame([CustomerRecord.model_validate(EXAMPLE_CUSTOMER)])
    expected = bundle[1].predict_proba(frame[list(FEATURE_COLUMNS)])[:, 1][0]  # type: ignore[attr-defined]
    assert body["churn_probability"] == pytest.approx(expected, abs=1e-12)
    assert body["churn"] == (body["churn_probability"] >= 0.4)
    assert body["reasons"] is None


def test_predict_with_explain_adds_the_top_reasons(client: TestClient) -> None:
    body = client.post("/predict?explain=true", json=EXAMPLE_CUSTOMER).json()
    assert len(body["reasons"]) == 3
    sizes = [abs(r["contribution"]) for r in body["reasons"]]
    assert sizes == sorted(sizes, reverse=True)
    assert all(r["value"] == EXAMPLE_CUSTOMER[r["field"]] for r in body["reasons"])


def test_explain_returns_exact_contributions(
    client: TestClient, bundle: tuple[Path, object]
) -> None:
    body = client.post("/explain", json=EXAMPLE_CUSTOMER).json()
    assert {c["field"] for c in body["contributions"]} == set(FEATURE_COLUMNS)
    total = body["base_value"] + sum(c["contribution"] for c in body["contributions"])
    assert total == pytest.approx(float(logit(body["churn_probability"])), abs=1e-9)


def test_batch_keeps_order_and_matches_single_predictions(client: TestClient) -> None:
    second = EXAMPLE_CUSTOMER | {
        "customerID": "0002-BBBBB",
        "Contract": "Two year",
        "tenure": 60,
        "TotalCharges": 1800.0,
    }
    batch = client.post("/predict/batch", json={"records": [EXAMPLE_CUSTOMER, second]}).json()
    assert [p["customerID"] for p in batch["predictions"]] == ["7590-VHVEG", "0002-BBBBB"]
    single = client.post("/predict", json=second).json()
    assert batch["predictions"][1]["churn_probability"] == pytest.approx(
        single["churn_probability"], abs=1e-12
    )
    assert (
        batch["predictions"][1]["churn_probability"] < batch["predictions"][0]["churn_probability"]
    )


def test_oversized_batch_is_refused_with_the_limit(client: TestClient) -> None:
    response = client.post("/predict/batch", json={"records": [EXAMPLE_CUSTOMER] * 51})
    assert response.status_code == 413
    assert "at most 50" in response.json()["detail"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"Contract": "Weekly"}, "Contract"),
        ({"tenure": -1}, "tenure"),
        ({"MonthlyCharges": "cheap"}, "MonthlyCharges"),
        ({"Region": "north"}, "Region"),
        ({"SeniorCitizen": 2}, "SeniorCitizen"),
    ],
)
def test_bad_records_are_422_naming_the_field(
    client: TestClient, change: dict[str, object], field: str
) -> None:
    response = client.post("/predict", json=EXAMPLE_CUSTOMER | change)
    assert response.status_code == 422
    assert field in str(response.json()["detail"])


def test_missing_field_and_empty_batch_are_422(client: TestClient) -> None:
    missing = {k: v for k, v in EXAMPLE_CUSTOMER.items() if k != "tenure"}
    assert client.post("/predict", json=missing).status_code == 422
    assert client.post("/predict/batch", json={"records": []}).status_code == 422


@pytest.mark.parametrize(
    ("change", "location"),
    [
        ({"tenure": float("nan")}, ["body", "records", 1, "tenure"]),
        ({"MonthlyCharges": float("inf")}, ["body", "records", 1, "MonthlyCharges"]),
        ({"Contract": "Weekly"}, ["body", "records", 1, "Contract"]),
        ({"Region": "north"}, ["body", "records", 1, "Region"]),
    ],
)
def test_a_bad_record_in_a_batch_is_422_naming_its_position_and_field(
    client: TestClient, change: dict[str, object], location: list[object]
) -> None:
    body = json.dumps({"records": [EXAMPLE_CUSTOMER, EXAMPLE_CUSTOMER | change]})
    response = client.post(
        "/predict/batch", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert location in [error["loc"] for error in response.json()["detail"]]


@pytest.mark.parametrize("body", [b"", b"{not json", b"[]", b'{"records": {}}', b'"records"'])
def test_a_batch_body_that_is_not_a_batch_is_422_without_echoing_it(
    client: TestClient, body: bytes
) -> None:
    response = client.post(
        "/predict/batch", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"][0] == "body"
    assert error["msg"]
    if error["type"] == "json_invalid":
        assert error["input"] == {}


def test_malformed_json_is_a_client_error(client: TestClient) -> None:
    response = client.post(
        "/predict", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


def test_without_a_model_the_service_is_alive_but_not_ready(tmp_path: Path) -> None:
    config = app_config(str(tmp_path / "missing"), tmp_path / "serving.db")
    with TestClient(create_app(config)) as test_client:
        assert test_client.get("/health").status_code == 200
        ready = test_client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "not_ready"
        assert ready.json()["reason"]
        assert test_client.post("/predict", json=EXAMPLE_CUSTOMER).status_code == 503


def test_openapi_documents_every_route_with_examples(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert {
        "/health",
        "/ready",
        "/model",
        "/predict",
        "/predict/batch",
        "/explain",
        "/feedback",
        "/admin/reload",
        "/admin/experiment",
        "/metrics",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/churnguard",
        "/v2/models/churnguard/infer",
    } <= set(schema["paths"])
    components = schema["components"]["schemas"]
    bodies = [
        op["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
        for ops in schema["paths"].values()
        for op in ops.values()
        if "requestBody" in op
    ]
    assert len(bodies) == 6
    for name in bodies:  # every request body has an example in /docs
        assert components[name]["examples"], name


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("2026-01-01T03:00:00+02:00", "2026-01-01T01:00:00+00:00"),
        # Valid times whose offset would push them out of range in UTC are clamped, not a 500.
        ("0001-01-01T03:00:00+18:57", "0001-01-01T00:00:00+00:00"),
        ("9999-12-31T23:00:00-18:57", "9999-12-31T23:59:59.999999+00:00"),
    ],
)
def test_feedback_times_are_stored_in_utc(sent: str, stored: str) -> None:
    from churnguard.api.schemas import FeedbackItem

    item = FeedbackItem.model_validate({"request_id": "r", "churn": True, "observed_at": sent})
    assert item.observed_at is not None
    assert item.observed_at.isoformat() == stored


def test_the_model_training_time_is_served_and_exported(client: TestClient) -> None:
    from datetime import UTC, datetime

    trained_at = client.get("/model").json()["trained_at"]
    assert trained_at is not None
    age = datetime.now(UTC) - datetime.fromisoformat(trained_at)
    assert 0 <= age.total_seconds() < 3600  # the bundle was trained by this test session
    metrics = client.get("/metrics").text
    (line,) = [
        sample
        for sample in metrics.splitlines()
        if sample.startswith("churnguard_model_trained_timestamp_seconds ")
    ]
    assert float(line.split()[1]) == datetime.fromisoformat(trained_at).timestamp()
