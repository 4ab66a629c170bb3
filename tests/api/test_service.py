"""Security, limits, feedback, metrics, reload and the V2 protocol through the TestClient."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bundles import app_config, make_bundle
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import create_engine, text

from churnguard.api.app import create_app
from churnguard.api.middleware import hash_customer_id
from churnguard.api.schemas import EXAMPLE_CUSTOMER
from churnguard.api.store import FeedbackStore
from churnguard.data.schema import FEATURE_COLUMNS
from churnguard.errors import ConfigError
from churnguard.models.bundle import MANIFEST_NAME, ModelRecord
from churnguard.models.tracking import _model_file

pytestmark = pytest.mark.unit
KEY = "test-key-0123456789"


@pytest.fixture(scope="module")
def served(bundle: tuple[Path, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the shared bundle that tests may swap."""
    path = tmp_path_factory.mktemp("served") / "model"
    shutil.copytree(bundle[0], path)
    return path


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("store") / "serving.db"


@pytest.fixture(scope="module")
def client(served: Path, store_path: Path) -> Iterator[TestClient]:
    config = app_config(
        str(served), store_path, api_key=SecretStr(KEY), max_body_bytes=64 * 1024, max_batch=20
    )
    with TestClient(create_app(config)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def keyless(served: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    store = tmp_path_factory.mktemp("keyless") / "serving.db"
    with TestClient(create_app(app_config(str(served), store))) as test_client:
        yield test_client


# -- API key -----------------------------------------------------------------------------------
def test_admin_and_feedback_are_disabled_without_a_configured_key(keyless: TestClient) -> None:
    for path, body in (
        ("/admin/reload", None),
        ("/feedback", {"labels": [{"request_id": "r", "churn": True}]}),
    ):
        response = keyless.post(path, json=body, headers={"X-API-Key": "anything"})
        assert response.status_code == 403
        assert "CHURNGUARD_SERVING_API_KEY" in response.json()["detail"]


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"X-API-Key": KEY + "x"}])
def test_a_missing_or_wrong_key_is_401(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/admin/reload", headers=headers)
    assert response.status_code == 401
    assert "X-API-Key" in response.json()["detail"]


def test_the_key_can_come_from_a_secret_file(served: Path, tmp_path: Path) -> None:
    secret = tmp_path / "api-key"
    secret.write_text(KEY + "\n")
    config = app_config(str(served), tmp_path / "s.db", api_key_file=secret)
    with TestClient(create_app(config)) as test_client:
        assert test_client.post("/admin/reload", headers={"X-API-Key": KEY}).status_code == 200


@pytest.mark.parametrize("content", [None, ""])
def test_an_unreadable_or_empty_key_file_stops_startup(tmp_path: Path, content: str | None) -> None:
    secret = tmp_path / "api-key"
    if content is not None:
        secret.write_text(content)
    with pytest.raises(ConfigError, match="api_key_file"):
        create_app(app_config("unused", tmp_path / "s.db", api_key_file=secret))


def test_the_key_is_never_written_to_params(served: Path, tmp_path: Path) -> None:
    config = app_config(str(served), tmp_path / "s.db", api_key=SecretStr(KEY))
    assert KEY not in json.dumps(config.model_dump(mode="json"))
    assert "api_key" not in config.serving.model_dump()


# -- limits ------------------------------------------------------------------------------------
def test_a_body_over_the_limit_is_413_before_it_is_read(client: TestClient) -> None:
    records = [EXAMPLE_CUSTOMER] * 200  # ~100 kB > 64 kB
    response = client.post("/predict/batch", json={"records": records})
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


def test_a_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"records": ['
        for _ in range(400):
            yield json.dumps(EXAMPLE_CUSTOMER).encode() + b","
        yield json.dumps(EXAMPLE_CUSTOMER).encode() + b"]}"

    response = client.post(
        "/predict/batch", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_a_body_that_is_not_json_is_415(client: TestClient, content_type: str) -> None:
    response = client.post(
        "/predict", content=json.dumps(EXAMPLE_CUSTOMER), headers={"content-type": content_type}
    )
    assert response.status_code == 415
    assert "application/json" in response.json()["detail"]


def test_json_with_a_charset_is_accepted(client: TestClient) -> None:
    response = client.post(
        "/predict",
        content=json.dumps(EXAMPLE_CUSTOMER),
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_422_naming_the_field(client: TestClient, token: str) -> None:
    raw = json.dumps(EXAMPLE_CUSTOMER).replace(
        '"MonthlyCharges": 29.85', f'"MonthlyCharges": {token}'
    )
    response = client.post("/predict", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "MonthlyCharges" in json.dumps(response.json())


def test_cors_is_off_by_default_and_on_when_configured(
    client: TestClient, served: Path, tmp_path: Path
) -> None:
    preflight = {"Origin": "https://crm.example", "Access-Control-Request-Method": "POST"}
    assert (
        "access-control-allow-origin" not in client.options("/predict", headers=preflight).headers
    )
    config = app_config(str(served), tmp_path / "s.db", cors_origins=("https://crm.example",))
    with TestClient(create_app(config)) as test_client:
        response = test_client.options("/predict", headers=preflight)
        assert response.headers["access-control-allow-origin"] == "https://crm.example"


# -- request ids and access log -------------------------------------------------------------------
def test_the_access_log_has_the_request_and_a_hashed_customer_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="churnguard.access"):
        response = client.post("/predict", json=EXAMPLE_CUSTOMER, headers={"X-Request-ID": "abc-1"})
    assert response.headers["X-Request-ID"] == "abc-1"
    (line,) = [r for r in caplog.records if r.name == "churnguard.access"]
    assert line.request_id == "abc-1"  # type: ignore[attr-defined]
    assert line.route == "/predict"  # type: ignore[attr-defined]
    assert line.status == 200  # type: ignore[attr-defined]
    assert line.latency_ms > 0  # type: ignore[attr-defined]
    assert line.model_version == "bundle"  # type: ignore[attr-defined]
    assert line.customer_ids == [hash_customer_id(EXAMPLE_CUSTOMER["customerID"])]  # type: ignore[attr-defined]
    assert EXAMPLE_CUSTOMER["customerID"] not in caplog.text


def test_a_request_id_is_created_when_none_or_an_unusable_one_is_sent(client: TestClient) -> None:
    created = client.get("/health").headers["X-Request-ID"]
    assert len(created) == 32
    assert (
        client.get("/health", headers={"X-Request-ID": "x" * 200}).headers["X-Request-ID"]
        != "x" * 200
    )


# -- feedback ------------------------------------------------------------------------------------
def test_feedback_is_stored_by_request_id_or_customer_id(
    client: TestClient, store_path: Path
) -> None:
    labels = [
        {"request_id": "abc-1", "churn": True},
        {"customerID": "7590-VHVEG", "churn": False, "observed_at": "2026-11-01T00:00:00Z"},
    ]
    response = client.post("/feedback", json={"labels": labels}, headers={"X-API-Key": KEY})
    assert response.status_code == 200
    assert response.json()["accepted"] == 2
    stored = FeedbackStore(f"sqlite:///{store_path}").labels()
    assert [(s.request_id, s.customer_id, s.churn) for s in stored[-2:]] == [
        ("abc-1", None, True),
        (None, "7590-VHVEG", False),
    ]


def test_feedback_without_an_identifier_is_422(client: TestClient) -> None:
    response = client.post(
        "/feedback", json={"labels": [{"churn": True}]}, headers={"X-API-Key": KEY}
    )
    assert response.status_code == 422
    assert "request_id or customerID" in json.dumps(response.json())


def test_feedback_is_all_or_nothing_when_the_store_is_down(served: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    config = app_config(str(served), store, api_key=SecretStr(KEY))
    with TestClient(create_app(config)) as test_client:
        engine = create_engine(f"sqlite:///{store}")
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE churnguard_feedback"))
        engine.dispose()
        response = test_client.post(
            "/feedback",
            json={"labels": [{"request_id": "r", "churn": True}]},
            headers={"X-API-Key": KEY},
        )
        assert response.status_code == 503
        assert "nothing was stored" in response.json()["detail"]


# -- metrics -------------------------------------------------------------------------------------
def test_metrics_count_requests_and_predictions(client: TestClient) -> None:
    client.post("/predict", json=EXAMPLE_CUSTOMER)
    client.post("/predict", json=EXAMPLE_CUSTOMER | {"Contract": "Bogus"})
    text_ = client.get("/metrics").text
    assert 'churnguard_http_requests_total{method="POST",route="/predict",status="200"}' in text_
    assert 'churnguard_http_requests_total{method="POST",route="/predict",status="422"}' in text_
    assert (
        'churnguard_predictions_total{label="churn",model_version="bundle",variant="champion"}'
        in text_
        or 'churnguard_predictions_total{label="stay",model_version="bundle",variant="champion"}'
        in text_
    )
    assert "churnguard_http_request_duration_seconds_bucket" in text_
    assert "churnguard_model_loaded 1.0" in text_
    assert "churnguard_churn_probability_bucket" in text_


def test_unknown_paths_share_one_metrics_label(client: TestClient) -> None:
    assert client.get("/no/such/path/12345").status_code == 404
    text_ = client.get("/metrics").text
    assert "/no/such/path" not in text_
    assert 'route="unmatched",status="404"' in text_


# -- reload ------------------------------------------------------------------------------------
def test_reload_swaps_in_a_new_model_and_refuses_a_broken_one(
    client: TestClient, served: Path, tmp_path: Path
) -> None:
    before = client.post("/predict", json=EXAMPLE_CUSTOMER).json()["churn_probability"]
    replacement, _ = make_bundle(tmp_path / "next", seed=99, n_estimators=15)
    (replacement / MANIFEST_NAME).write_text(
        ModelRecord(name="churnguard", version="7", alias="champion").model_dump_json()
    )
    shutil.rmtree(served)
    shutil.copytree(replacement, served)
    reloaded = client.post("/admin/reload", headers={"X-API-Key": KEY})
    assert reloaded.status_code == 200
    assert reloaded.json()["version"] == "7"
    after = client.post("/predict", json=EXAMPLE_CUSTOMER).json()
    assert after["model_version"] == "7"
    assert after["churn_probability"] != before

    # A manifest whose hash does not match the model file: refused, version 7 keeps serving.
    record = ModelRecord(name="churnguard", version="8", model_sha256="0" * 64)
    (served / MANIFEST_NAME).write_text(record.model_dump_json())
    refused = client.post("/admin/reload", headers={"X-API-Key": KEY})
    assert refused.status_code == 409
    assert "sha256" in refused.json()["reason"]
    assert client.post("/predict", json=EXAMPLE_CUSTOMER).json()["model_version"] == "7"
    assert client.get("/ready").status_code == 200

    # A corrupt model file is refused too.
    (served / MANIFEST_NAME).unlink()
    _model_file(served).write_bytes(b"not a model")
    assert client.post("/admin/reload", headers={"X-API-Key": KEY}).status_code == 409
    assert client.post("/predict", json=EXAMPLE_CUSTOMER).json()["model_version"] == "7"


# -- Open Inference Protocol (V2) ---------------------------------------------------------------
def _tensors(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def datatype(column: str) -> str:
        value = records[0][column]
        return (
            "BYTES" if isinstance(value, str) else "FP64" if isinstance(value, float) else "INT64"
        )

    return [
        {
            "name": c,
            "shape": [len(records)],
            "datatype": datatype(c),
            "data": [r[c] for r in records],
        }
        for c in FEATURE_COLUMNS
    ]


def test_v2_health_and_metadata(client: TestClient) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2/models/churnguard/ready").json()["ready"] is True
    metadata = client.get("/v2/models/churnguard").json()
    assert [i["name"] for i in metadata["inputs"]] == list(FEATURE_COLUMNS)
    assert [o["name"] for o in metadata["outputs"]] == ["churn_probability", "churn", "risk_band"]


def test_v2_infer_matches_the_rest_api(client: TestClient) -> None:
    second = EXAMPLE_CUSTOMER | {"Contract": "Two year", "tenure": 60, "TotalCharges": 1800.0}
    body = {"id": "v2-1", "inputs": _tensors([EXAMPLE_CUSTOMER, second])}
    response = client.post("/v2/models/churnguard/infer", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["id"] == "v2-1"
    outputs = {o["name"]: o for o in result["outputs"]}
    rest = client.post("/predict/batch", json={"records": [EXAMPLE_CUSTOMER, second]}).json()
    expected = [p["churn_probability"] for p in rest["predictions"]]
    assert outputs["churn_probability"]["data"] == pytest.approx(expected, abs=1e-12)
    assert outputs["churn"]["shape"] == [2]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t[:-1], "missing input"),
        (lambda t: [*t, {**t[0], "name": "Region"}], "unknown input 'Region'"),
        (lambda t: [{**t[0], "data": ["Alien"]}, *t[1:]], "gender"),
        (lambda t: [{**t[0], "shape": [2]}, *t[1:]], "shape"),
    ],
)
def test_v2_bad_requests_are_400_with_an_error(
    client: TestClient, mutate: Any, message: str
) -> None:
    body = {"inputs": mutate(_tensors([EXAMPLE_CUSTOMER]))}
    response = client.post("/v2/models/churnguard/infer", json=body)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_a_body_that_is_not_utf8_is_422_like_malformed_json(client: TestClient) -> None:
    response = client.post(
        "/predict", content=b"\xff\xfe{", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "UTF-8" in response.json()["detail"][0]["msg"]


def test_tiny_charges_give_finite_explanations(client: TestClient) -> None:
    # tenure x MonthlyCharges below a cent used to overflow charges_ratio to infinity.
    record = EXAMPLE_CUSTOMER | {
        "tenure": 96,
        "MonthlyCharges": 2.2250738585e-313,
        "TotalCharges": 15351.16,
    }
    body = client.post("/explain", json=record).json()
    assert all(isinstance(c["contribution"], float) for c in body["contributions"])
    assert 0.0 <= body["churn_probability"] <= 1.0
