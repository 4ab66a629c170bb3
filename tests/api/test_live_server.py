"""The prediction service end to end: ``churnguard serve`` as a real uvicorn process on loopback.

One server per module serves a local bundle with an API key, a sqlite feedback store, a 64 KiB
body limit and batches of at most 20 records; every request goes over a real socket. It runs as
``churnguard --log-format json serve`` with ``CHURNGUARD_LOG_FORMAT=human`` in its environment:
the command-line option must win.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from live import API_KEY, Bundle, LiveServer, build_bundle, running_server, train_frame
from prometheus_client.parser import text_string_to_metric_families
from scipy.special import logit

from churnguard.api.schemas import EXAMPLE_CUSTOMER
from churnguard.api.store import FeedbackStore
from churnguard.data.schema import FEATURE_COLUMNS
from churnguard.io import sha256_file

pytestmark = pytest.mark.e2e

MAX_BODY_BYTES = 65536
MAX_BATCH = 20
THRESHOLD = 0.4
SECOND = EXAMPLE_CUSTOMER | {
    "customerID": "0002-BBBBB",
    "Contract": "Two year",
    "tenure": 60,
    "InternetService": "Fiber optic",
    "MonthlyCharges": 95.5,
    "TotalCharges": 5600.0,
}


@pytest.fixture(scope="module")
def model_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return build_bundle(tmp_path_factory.mktemp("bundle") / "model", train_frame(), threshold=0.4)


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('store') / 'serving.db'}"


@pytest.fixture(scope="module")
def server(
    model_bundle: Bundle, store_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    env = {
        "CHURNGUARD_SERVING_API_KEY": API_KEY,
        "CHURNGUARD_SERVING_STORE_URL": store_url,
        "CHURNGUARD_SERVING_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
        "CHURNGUARD_SERVING_MAX_BATCH": str(MAX_BATCH),
        # `--log-format json` on the command line must win over this.
        "CHURNGUARD_LOG_FORMAT": "human",
    }
    with running_server(str(model_bundle.path), tmp_path_factory.mktemp("server"), env) as live:
        yield live


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def _metric(exposition: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def test_server_is_ready_soon_after_start(server: LiveServer, http: httpx.Client) -> None:
    print(f"churnguard serve answered /health {server.startup_seconds:.2f} s after start")
    assert server.startup_seconds < 60
    assert http.get("/health").json() == {"status": "ok", "reason": None}
    ready = http.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "reason": None}


def test_the_log_format_option_beats_the_environment(server: LiveServer) -> None:
    # The server runs with CHURNGUARD_LOG_FORMAT=human and `--log-format json`.
    started = [line for line in server.output().splitlines() if "startup complete" in line]
    assert started, server.tail()
    assert started[0].startswith("{"), f"--log-format json was not applied: {started[0]!r}"
    assert json.loads(started[0])["msg"] == "Application startup complete."


def test_model_describes_the_served_bundle(http: httpx.Client, model_bundle: Bundle) -> None:
    info = http.get("/model").json()
    assert info["model_uri"] == str(model_bundle.path)
    assert info["threshold"] == THRESHOLD
    assert info["model_sha256"] == sha256_file(model_bundle.model_file)
    assert info["data_sha256"] == "ab" * 32
    assert info["version"] is None  # a bare bundle, no registry manifest


def test_predict_matches_the_model_and_echoes_the_request_id(
    http: httpx.Client, model_bundle: Bundle
) -> None:
    response = http.post("/predict", json=EXAMPLE_CUSTOMER, headers={"X-Request-ID": "live-1"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "live-1"
    body = response.json()
    assert body["request_id"] == "live-1"
    assert body["churn_probability"] == pytest.approx(
        model_bundle.probability([EXAMPLE_CUSTOMER])[0], abs=1e-9
    )
    assert body["churn"] == (body["churn_probability"] >= THRESHOLD)
    assert body["threshold"] == THRESHOLD
    assert body["model_version"] == "bundle"
    assert body["reasons"] is None


def test_a_request_id_is_created_when_none_is_sent(http: httpx.Client) -> None:
    response = http.post("/predict", json=EXAMPLE_CUSTOMER)
    created = response.headers["X-Request-ID"]
    assert len(created) == 32
    assert int(created, 16) >= 0
    assert response.json()["request_id"] == created


def test_predict_with_explain_gives_the_top_reasons(http: httpx.Client) -> None:
    body = http.post("/predict", params={"explain": "true"}, json=EXAMPLE_CUSTOMER).json()
    assert len(body["reasons"]) == 3
    sizes = [abs(reason["contribution"]) for reason in body["reasons"]]
    assert sizes == sorted(sizes, reverse=True)
    assert all(reason["value"] == EXAMPLE_CUSTOMER[reason["field"]] for reason in body["reasons"])


def test_batch_keeps_order_and_matches_the_model(http: httpx.Client, model_bundle: Bundle) -> None:
    records = [EXAMPLE_CUSTOMER, SECOND, EXAMPLE_CUSTOMER | {"customerID": "0003-CCCCC"}]
    response = http.post("/predict/batch", json={"records": records})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    assert [p["customerID"] for p in predictions] == ["7590-VHVEG", "0002-BBBBB", "0003-CCCCC"]
    expected = model_bundle.probability(records)
    assert [p["churn_probability"] for p in predictions] == pytest.approx(expected, abs=1e-9)


def test_explain_contributions_add_up_to_the_log_odds(
    http: httpx.Client, model_bundle: Bundle
) -> None:
    body = http.post("/explain", json=SECOND).json()
    assert {c["field"] for c in body["contributions"]} == set(FEATURE_COLUMNS)
    assert body["churn_probability"] == pytest.approx(
        model_bundle.probability([SECOND])[0], abs=1e-9
    )
    total = body["base_value"] + sum(c["contribution"] for c in body["contributions"])
    assert total == pytest.approx(float(logit(body["churn_probability"])), abs=1e-9)


def test_feedback_needs_the_api_key(http: httpx.Client) -> None:
    labels = {"labels": [{"request_id": "no-key", "churn": True}]}
    missing = http.post("/feedback", json=labels)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "APIKey"
    assert http.post("/feedback", json=labels, headers={"X-API-Key": "wrong"}).status_code == 401


def test_feedback_with_the_key_is_stored(http: httpx.Client, store_url: str) -> None:
    marker = uuid.uuid4().hex
    labels = [
        {"request_id": f"{marker}-1", "churn": True},
        {"customerID": "7590-VHVEG", "request_id": f"{marker}-2", "churn": False},
    ]
    response = http.post("/feedback", json={"labels": labels}, headers={"X-API-Key": API_KEY})
    assert response.status_code == 200
    assert response.json()["accepted"] == 2
    store = FeedbackStore(store_url)
    try:
        stored = [label for label in store.labels() if (label.request_id or "").startswith(marker)]
    finally:
        store.close()
    assert [(s.request_id, s.customer_id, s.churn) for s in stored] == [
        (f"{marker}-1", None, True),
        (f"{marker}-2", "7590-VHVEG", False),
    ]


def test_metrics_count_requests_and_predictions(http: httpx.Client) -> None:
    before = http.get("/metrics").text
    assert http.post("/predict", json=EXAMPLE_CUSTOMER).status_code == 200
    assert (
        http.post("/predict/batch", json={"records": [EXAMPLE_CUSTOMER, SECOND]}).status_code == 200
    )
    after = http.get("/metrics").text
    requests = "churnguard_http_requests_total"
    predictions = "churnguard_predictions_total"
    route = {"route": "/predict", "method": "POST", "status": "200"}
    assert _metric(after, requests, **route) == _metric(before, requests, **route) + 1
    assert _metric(after, predictions, model_version="bundle") == (
        _metric(before, predictions, model_version="bundle") + 3
    )
    assert _metric(after, "churnguard_model_loaded") == 1
    statuses = {
        sample.labels["status"]
        for family in text_string_to_metric_families(after)
        for sample in family.samples
        if sample.name == requests
    }
    assert not {status for status in statuses if status.startswith("5")}


def _v2_inputs(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    datatypes = {"MonthlyCharges": "FP64", "TotalCharges": "FP64"}
    return [
        {
            "name": column,
            "shape": [len(records)],
            "datatype": datatypes.get(
                column, "BYTES" if isinstance(records[0][column], str) else "INT64"
            ),
            "data": [record[column] for record in records],
        }
        for column in FEATURE_COLUMNS
    ]


def test_v2_health_and_model_metadata(http: httpx.Client) -> None:
    assert http.get("/v2/health/live").json() == {"live": True}
    assert http.get("/v2/health/ready").json() == {"ready": True}
    assert http.get("/v2/models/churnguard/ready").json() == {"name": "churnguard", "ready": True}
    metadata = http.get("/v2/models/churnguard").json()
    assert metadata["name"] == "churnguard"
    assert metadata["versions"] == ["bundle"]
    assert [tensor["name"] for tensor in metadata["inputs"]] == list(FEATURE_COLUMNS)
    assert [tensor["name"] for tensor in metadata["outputs"]] == [
        "churn_probability",
        "churn",
        "risk_band",
    ]


def test_v2_infer_scores_one_tensor_per_field(http: httpx.Client, model_bundle: Bundle) -> None:
    records = [EXAMPLE_CUSTOMER, SECOND]
    response = http.post(
        "/v2/models/churnguard/infer", json={"id": "v2-1", "inputs": _v2_inputs(records)}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == "v2-1"
    assert body["model_version"] == "bundle"
    outputs = {tensor["name"]: tensor for tensor in body["outputs"]}
    assert outputs["churn_probability"]["shape"] == [2]
    probabilities = outputs["churn_probability"]["data"]
    assert probabilities == pytest.approx(model_bundle.probability(records), abs=1e-9)
    assert outputs["churn"]["data"] == [p >= THRESHOLD for p in probabilities]


def test_access_log_is_json_with_a_hashed_customer_id(
    http: httpx.Client, server: LiveServer
) -> None:
    request_id = f"log-{uuid.uuid4().hex}"
    secret_id = f"SECRET-{uuid.uuid4().hex[:8]}"
    customer = EXAMPLE_CUSTOMER | {"customerID": secret_id}
    assert (
        http.post("/predict", json=customer, headers={"X-Request-ID": request_id}).status_code
        == 200
    )
    line = server.wait_for_log(lambda r: r.get("request_id") == request_id)
    assert line["logger"] == "churnguard.access"
    assert line["route"] == "/predict"
    assert line["method"] == "POST"
    assert line["status"] == 200
    assert isinstance(line["latency_ms"], float)
    assert 0 < line["latency_ms"] < 60_000
    assert line["model_version"] == "bundle"
    assert line["customer_ids"] == [hashlib.sha256(secret_id.encode()).hexdigest()[:16]]
    assert secret_id not in server.output()


def test_a_refused_request_is_logged_with_its_status(
    http: httpx.Client, server: LiveServer
) -> None:
    request_id = f"bad-{uuid.uuid4().hex}"
    bad = EXAMPLE_CUSTOMER | {"tenure": -5}
    assert http.post("/predict", json=bad, headers={"X-Request-ID": request_id}).status_code == 422
    line = server.wait_for_log(lambda r: r.get("request_id") == request_id)
    assert (line["route"], line["status"]) == ("/predict", 422)


def _raw(record: dict[str, Any], field: str, literal: str) -> bytes:
    """``record`` as JSON text with ``field`` set to a bare literal such as ``NaN``."""
    return json.dumps(record | {field: "__LITERAL__"}).replace('"__LITERAL__"', literal).encode()


def _chunks(total: int, size: int = 8192) -> Iterator[bytes]:
    """A body sent with Transfer-Encoding: chunked (no Content-Length)."""
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


JSON = {"content-type": "application/json"}
BAD_REQUESTS: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("malformed-json", "/predict", {"content": b'{"tenure": 1,', "headers": JSON}, 422, "JSON"),
    ("json-array", "/predict", {"json": [EXAMPLE_CUSTOMER]}, 422, "dictionary"),
    ("text-plain", "/predict", {"content": json.dumps(EXAMPLE_CUSTOMER).encode(), "headers": {"content-type": "text/plain"}}, 415, "text/plain"),
    ("no-content-type", "/predict", {"content": json.dumps(EXAMPLE_CUSTOMER).encode()}, 415, "application/json"),
    ("huge-body", "/predict", {"content": b" " * (MAX_BODY_BYTES + 1), "headers": JSON}, 413, str(MAX_BODY_BYTES)),
    ("huge-chunked-body", "/predict/batch", {"content": lambda: _chunks(4 * MAX_BODY_BYTES), "headers": JSON}, 413, str(MAX_BODY_BYTES)),
    ("unknown-field", "/predict", {"json": EXAMPLE_CUSTOMER | {"Region": "north"}}, 422, "Region"),
    ("missing-field", "/predict", {"json": {k: v for k, v in EXAMPLE_CUSTOMER.items() if k != "tenure"}}, 422, "tenure"),
    ("nan", "/predict", {"content": _raw(EXAMPLE_CUSTOMER, "MonthlyCharges", "NaN"), "headers": JSON}, 422, "MonthlyCharges"),
    ("infinity", "/explain", {"content": _raw(EXAMPLE_CUSTOMER, "TotalCharges", "Infinity"), "headers": JSON}, 422, "TotalCharges"),
    ("negative-tenure", "/predict", {"json": EXAMPLE_CUSTOMER | {"tenure": -1}}, 422, "tenure"),
    ("unknown-category", "/predict", {"json": EXAMPLE_CUSTOMER | {"Contract": "Weekly"}}, 422, "Contract"),
    ("text-for-number", "/predict", {"json": EXAMPLE_CUSTOMER | {"MonthlyCharges": "cheap"}}, 422, "MonthlyCharges"),
    ("long-customer-id", "/predict", {"json": EXAMPLE_CUSTOMER | {"customerID": "x" * 65}}, 422, "customerID"),
    ("bad-record-in-batch", "/predict/batch", {"json": {"records": [EXAMPLE_CUSTOMER, EXAMPLE_CUSTOMER | {"SeniorCitizen": 2}]}}, 422, "SeniorCitizen"),
    ("empty-batch", "/predict/batch", {"json": {"records": []}}, 422, "records"),
    ("oversized-batch", "/predict/batch", {"json": {"records": [EXAMPLE_CUSTOMER] * (MAX_BATCH + 1)}}, 413, f"at most {MAX_BATCH}"),
    ("explain-not-a-bool", "/predict?explain=perhaps", {"json": EXAMPLE_CUSTOMER}, 422, "explain"),
    ("feedback-without-id", "/feedback", {"json": {"labels": [{"churn": True}]}, "headers": {"X-API-Key": API_KEY}}, 422, "request_id"),
    ("v2-unknown-input", "/v2/models/churnguard/infer", {"json": {"inputs": [{"name": "Region", "shape": [1], "datatype": "BYTES", "data": ["north"]}]}}, 400, "Region"),
    ("v2-missing-input", "/v2/models/churnguard/infer", {"json": {"inputs": [{"name": "tenure", "shape": [1], "datatype": "INT64", "data": [1]}]}}, 400, "Contract"),
    ("v2-bad-value", "/v2/models/churnguard/infer", {"json": {"inputs": [*_v2_inputs([EXAMPLE_CUSTOMER | {"tenure": -3}])]}}, 400, "tenure"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "request_options", "status", "named"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_requests_over_the_socket_are_client_errors_naming_the_problem(
    http: httpx.Client, path: str, request_options: dict[str, Any], status: int, named: str
) -> None:
    # A streamed body is a generator, made afresh for each run.
    options = {key: value() if callable(value) else value for key, value in request_options.items()}
    response = http.post(path, **options)
    assert response.status_code == status, response.text
    assert named in response.text
    assert response.headers["X-Request-ID"]
    detail = response.json()
    assert detail.get("detail") or detail.get("error")


def test_the_server_survives_the_bad_requests(http: httpx.Client, model_bundle: Bundle) -> None:
    for _ in range(3):  # not UTF-8
        status = http.post("/predict", content=b"\xff\xfe{", headers=JSON).status_code
        assert 400 <= status < 500
    body = http.post("/predict", json=EXAMPLE_CUSTOMER).json()
    assert math.isclose(
        body["churn_probability"], model_bundle.probability([EXAMPLE_CUSTOMER])[0], abs_tol=1e-9
    )


def test_experiment_commands_switch_the_running_service_back_and_reload_it(
    server: LiveServer,
) -> None:
    from churnguard.jobs.experiment import ServiceCallError, ServiceTarget, end_in_service

    answer = end_in_service(ServiceTarget(server.base_url, API_KEY))
    assert answer["reloaded"] is True
    with server.client() as http:
        assert http.get("/model").json()["experiment"]["mode"] == "single"
    with pytest.raises(ServiceCallError, match="401"):
        end_in_service(ServiceTarget(server.base_url, "wrong-key"))
