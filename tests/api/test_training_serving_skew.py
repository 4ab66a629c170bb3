"""Training/serving skew: the same raw customer rows, scored by the offline pipeline and by every
scoring route of the API, get the same churn probabilities.

Offline is what training and evaluation do: read the raw CSV (``read_raw``), validate it, coerce
the types (``coerce_types``: a blank TotalCharges becomes 0.0) and call the fitted pipeline's
``predict_proba``. Online is what a client does: read the same CSV as text, send each row as
JSON (blank TotalCharges as 0.0, as the API documents) and read the probability the service
computes with its compiled fast path on the deserialised bundle.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from bundles import app_config
from fastapi.testclient import TestClient
from numpy.typing import NDArray
from scipy.special import logit

from churnguard.api.app import create_app
from churnguard.data.ingest import read_raw
from churnguard.data.preprocess import coerce_types
from churnguard.data.report import format_report
from churnguard.data.schema import CATEGORIES, FEATURE_COLUMNS, ID_COLUMN, TARGET_COLUMN
from churnguard.data.synthetic import generate_customers
from churnguard.data.validate import validate_data

pytestmark = pytest.mark.unit

N_SYNTHETIC = 300
#: Rows at the edges of the data contract, as (tenure, MonthlyCharges, TotalCharges text).
EDGE_CASES = [
    (0, 18.25, " "),  # a new customer: the IBM file's blank TotalCharges
    (0, 20.05, ""),  # the same quirk as an empty field
    (0, 0.0, " "),  # nothing billed at all
    (1, 19.1, "19.1"),
    (72, 118.75, "8684.8"),  # the observed maxima
    (120, 500.0, "60000"),  # the schema's bounds
]
ROUTES = ["predict", "predict/batch", "v2 infer", "explain"]


@pytest.fixture(scope="module")
def raw_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A raw CSV of synthetic customers plus the edge cases, in the IBM file's layout."""
    raw = generate_customers(N_SYNTHETIC, seed=2026)
    edge = raw.head(len(EDGE_CASES)).copy()
    edge[ID_COLUMN] = [f"EDGE-{i:05d}" for i in range(len(EDGE_CASES))]
    edge["tenure"] = [tenure for tenure, _, _ in EDGE_CASES]
    edge["MonthlyCharges"] = [monthly for _, monthly, _ in EDGE_CASES]
    edge["TotalCharges"] = [total for _, _, total in EDGE_CASES]
    path = tmp_path_factory.mktemp("skew") / "customers.csv"
    pd.concat([raw, edge], ignore_index=True).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def processed(raw_file: Path) -> pd.DataFrame:
    """The rows as the data stages hand them to training: read, validated, coerced."""
    raw = read_raw(raw_file)
    report = validate_data(raw)
    assert report.passed, format_report(report)
    return coerce_types(raw)


@pytest.fixture(scope="module")
def offline(processed: pd.DataFrame, bundle: tuple[Path, Any]) -> NDArray[np.float64]:
    """Churn probabilities of the fitted pipeline, as training and evaluation compute them."""
    return np.asarray(bundle[1].predict_proba(processed[list(FEATURE_COLUMNS)])[:, 1])


def _json_value(column: str, text: str) -> object:
    if column in ("SeniorCitizen", "tenure"):
        return int(text)
    if column == "TotalCharges" and not text.strip():
        return 0.0
    if column in ("MonthlyCharges", "TotalCharges"):
        return float(text)
    return text


@pytest.fixture(scope="module")
def requests(raw_file: Path) -> list[dict[str, object]]:
    """The rows as a client sends them: the CSV's text turned into JSON values."""
    with raw_file.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [{c: _json_value(c, v) for c, v in row.items() if c != TARGET_COLUMN} for row in rows]


@pytest.fixture(scope="module")
def client(
    bundle: tuple[Path, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    store = tmp_path_factory.mktemp("skew-store") / "serving.db"
    with TestClient(create_app(app_config(str(bundle[0]), store))) as test_client:
        yield test_client


def _v2_body(records: list[dict[str, object]]) -> dict[str, object]:
    def datatype(column: str) -> str:
        if column in CATEGORIES:
            return "BYTES"
        return "FP64" if column in ("MonthlyCharges", "TotalCharges") else "INT64"

    inputs = [
        {
            "name": c,
            "shape": [len(records)],
            "datatype": datatype(c),
            "data": [r[c] for r in records],
        }
        for c in FEATURE_COLUMNS
    ]
    return {"id": "skew", "inputs": inputs}


def _served(client: TestClient, route: str, records: list[dict[str, object]]) -> list[float]:
    if route == "predict/batch":
        response = client.post("/predict/batch", json={"records": records})
        assert response.status_code == 200, response.text
        predictions = response.json()["predictions"]
        assert [p["customerID"] for p in predictions] == [r[ID_COLUMN] for r in records]
        return [p["churn_probability"] for p in predictions]
    if route == "v2 infer":
        response = client.post("/v2/models/churnguard/infer", json=_v2_body(records))
        assert response.status_code == 200, response.text
        outputs = {o["name"]: o["data"] for o in response.json()["outputs"]}
        return list(outputs["churn_probability"])
    probabilities = []
    for record in records:
        response = client.post(f"/{route}", json=record)
        assert response.status_code == 200, response.text
        probabilities.append(response.json()["churn_probability"])
    return probabilities


def test_the_rows_cover_every_category_value_and_the_edge_cases(
    processed: pd.DataFrame, requests: list[dict[str, object]]
) -> None:
    assert len(processed) == len(requests) == N_SYNTHETIC + len(EDGE_CASES)
    for column, values in CATEGORIES.items():
        assert set(processed[column]) == set(values), column
    assert set(processed["SeniorCitizen"]) == {0, 1}
    new = processed[processed["tenure"] == 0]
    assert len(new) >= 3
    assert (new["TotalCharges"] == 0.0).all()
    assert processed["tenure"].max() == 120
    assert processed["MonthlyCharges"].max() == 500.0
    assert [r["TotalCharges"] for r in requests[-len(EDGE_CASES) : -3]] == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_scores_raw_records_like_the_offline_pipeline(
    client: TestClient,
    requests: list[dict[str, object]],
    offline: NDArray[np.float64],
    route: str,
) -> None:
    served = np.array(_served(client, route, requests))

    assert served.shape == offline.shape
    np.testing.assert_allclose(served, offline, rtol=0, atol=1e-12)
    # Not a constant model: the comparison means something.
    assert offline.std() > 0.05


def test_explanations_add_up_to_the_offline_log_odds(
    client: TestClient, requests: list[dict[str, object]], offline: NDArray[np.float64]
) -> None:
    # The bundle is uncalibrated: base value + contributions = logit of the probability.
    totals = []
    for record in requests:
        body = client.post("/explain", json=record).json()
        totals.append(body["base_value"] + sum(c["contribution"] for c in body["contributions"]))
    np.testing.assert_allclose(totals, logit(offline), rtol=0, atol=1e-9)
