"""Numerical stability: non-finite numbers never get in, extreme valid inputs never give NaN/inf.

The served bundle is scored on records at the edges of the data contract (tenure 0 and 120,
charges of 0, the smallest subnormal float, a cent, the observed extremes and the schema's
bounds) by the scorer the service wraps and by every route. NaN, ±Infinity and overflowing
numbers are refused in every numeric field of every scoring route, and by validation on the
training side.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from bundles import app_config
from fastapi.testclient import TestClient

from churnguard.api.app import create_app
from churnguard.api.schemas import EXAMPLE_CUSTOMER
from churnguard.data.ingest import read_raw
from churnguard.data.schema import (
    CATEGORIES,
    FEATURE_COLUMNS,
    FLOAT_COLUMNS,
    INTEGER_COLUMNS,
    INTERNET_ADDONS,
    NO_INTERNET,
    NUMERIC_FEATURES,
)
from churnguard.data.synthetic import generate_customers
from churnguard.data.validate import validate_data
from churnguard.models.predict import ChurnScorer
from churnguard.models.tracking import load_model

pytestmark = pytest.mark.unit

TENURES = [0, 1, 72, 120]
MONTHLY = [0.0, 5e-324, 0.01, 18.25, 118.75, 500.0]
TOTAL = [0.0, 5e-324, 0.01, 60_000.0]
PROFILES: list[dict[str, Any]] = [
    EXAMPLE_CUSTOMER,  # DSL, month-to-month, no phone
    EXAMPLE_CUSTOMER
    | {
        "SeniorCitizen": 1,
        "PhoneService": "Yes",
        "MultipleLines": "Yes",
        "InternetService": "Fiber optic",
        **dict.fromkeys(INTERNET_ADDONS, "Yes"),
        "Contract": "Two year",
        "PaymentMethod": "Mailed check",
    },
    EXAMPLE_CUSTOMER
    | {
        "PhoneService": "Yes",
        "MultipleLines": "No",
        "InternetService": "No",
        **dict.fromkeys(INTERNET_ADDONS, NO_INTERNET),
        "Contract": "One year",
        "PaperlessBilling": "No",
    },
]
NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e999"]
ROUTES = ["/predict", "/explain", "/predict/batch", "/v2/models/churnguard/infer"]


def _extreme_records() -> list[dict[str, Any]]:
    return [
        profile | {"customerID": None, "tenure": t, "MonthlyCharges": m, "TotalCharges": c}
        for profile, t, m, c in itertools.product(PROFILES, TENURES, MONTHLY, TOTAL)
    ]


def _frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(records)[list(FEATURE_COLUMNS)]
    return frame.astype(
        {**dict.fromkeys(INTEGER_COLUMNS, "int64"), **dict.fromkeys(FLOAT_COLUMNS, "float64")}
    )


def _v2_body(records: list[dict[str, Any]]) -> dict[str, Any]:
    def datatype(column: str) -> str:
        if column in CATEGORIES:
            return "BYTES"
        return "FP64" if column in FLOAT_COLUMNS else "INT64"

    return {
        "inputs": [
            {
                "name": c,
                "shape": [len(records)],
                "datatype": datatype(c),
                "data": [r[c] for r in records],
            }
            for c in FEATURE_COLUMNS
        ]
    }


def _assert_probabilities(values: Any) -> None:
    array = np.asarray(values, dtype=float)
    assert np.isfinite(array).all(), (
        f"non-finite probabilities at {np.flatnonzero(~np.isfinite(array))}"
    )
    assert ((array >= 0.0) & (array <= 1.0)).all()


@pytest.fixture(scope="module")
def scorer(bundle: tuple[Path, Any]) -> ChurnScorer:
    """The scorer exactly as the service builds it from the bundle."""
    loaded = load_model(str(bundle[0]))
    return ChurnScorer(
        loaded.model, float(loaded.metadata["threshold"]), loaded.metadata["linear_background"]
    )


@pytest.fixture(scope="module")
def client(
    bundle: tuple[Path, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    store = tmp_path_factory.mktemp("stability-store") / "serving.db"
    with TestClient(create_app(app_config(str(bundle[0]), store))) as test_client:
        yield test_client


def test_extreme_valid_records_get_finite_probabilities_and_explanations_from_the_scorer(
    scorer: ChurnScorer,
) -> None:
    records = _extreme_records()
    frame = _frame(records)
    pipeline = scorer.model.predict_proba(frame)[:, 1]

    batch = scorer.churn_probability(frame)
    columns = scorer.columns_probability({c: frame[c].tolist() for c in FEATURE_COLUMNS})
    single = [scorer.record_probability(r) for r in frame.to_dict("records")]
    contributions, base = scorer.field_contributions(frame)

    assert len(records) == len(PROFILES) * len(TENURES) * len(MONTHLY) * len(TOTAL)
    for probabilities in (pipeline, batch, columns, single):
        _assert_probabilities(probabilities)
    # The compiled path the service runs agrees with the pipeline at the edges too.
    for compiled in (batch, columns, single):
        np.testing.assert_allclose(compiled, pipeline, rtol=0, atol=1e-12)
    assert np.isfinite(contributions.to_numpy()).all()
    assert np.isfinite(base).all()
    # The extremes move the score: a constant answer would hide an overflow clipped to 0 or 1.
    assert np.ptp(batch) > 0.3


def test_extreme_valid_records_get_finite_answers_from_every_route(client: TestClient) -> None:
    records = _extreme_records()

    batch = client.post("/predict/batch", json={"records": records})
    v2 = client.post("/v2/models/churnguard/infer", json=_v2_body(records))

    assert batch.status_code == 200, batch.text
    assert v2.status_code == 200, v2.text
    batch_probabilities = [p["churn_probability"] for p in batch.json()["predictions"]]
    _assert_probabilities(batch_probabilities)
    outputs = {o["name"]: o["data"] for o in v2.json()["outputs"]}
    np.testing.assert_allclose(
        outputs["churn_probability"], batch_probabilities, rtol=0, atol=1e-12
    )
    for record, expected in zip(records, batch_probabilities, strict=True):
        single = client.post("/predict?explain=true", json=record)
        explained = client.post("/explain", json=record)
        assert single.status_code == explained.status_code == 200, (single.text, explained.text)
        assert single.json()["churn_probability"] == pytest.approx(expected, abs=1e-12)
        body = explained.json()
        values = [body["churn_probability"], body["base_value"]]
        values += [c["contribution"] for c in body["contributions"]]
        values += [r["contribution"] for r in single.json()["reasons"]]
        assert all(isinstance(v, float) and math.isfinite(v) for v in values), body


def _raw_body(route: str, field: str, token: str) -> str:
    # JSON with a bare NaN / Infinity / 1e999 token, as a careless client would serialise it.
    marker = "__NON_FINITE__"
    record = EXAMPLE_CUSTOMER | {field: marker}
    if route == "/predict/batch":
        body: Any = {"records": [EXAMPLE_CUSTOMER, record]}
    elif route.startswith("/v2"):
        body = _v2_body([EXAMPLE_CUSTOMER, record])
    else:
        body = record
    return json.dumps(body).replace(f'"{marker}"', token)


@pytest.mark.parametrize("token", NON_FINITE)
@pytest.mark.parametrize("field", NUMERIC_FEATURES)
@pytest.mark.parametrize("route", ROUTES)
def test_non_finite_numbers_are_refused_by_every_scoring_route(
    client: TestClient, route: str, field: str, token: str
) -> None:
    response = client.post(
        route,
        content=_raw_body(route, field, token),
        headers={"content-type": "application/json"},
    )

    assert response.status_code == (400 if route.startswith("/v2") else 422), response.text
    assert field in response.text
    assert "churn_probability" not in response.text


@pytest.mark.parametrize("value", ["NaN", "inf", "-inf", "1e999"])
@pytest.mark.parametrize("column", ["MonthlyCharges", "TotalCharges"])
def test_validation_refuses_non_finite_charges_in_training_data(
    tmp_path: Path, column: str, value: str
) -> None:
    raw = generate_customers(200, seed=3)
    raw[column] = raw[column].astype("object")
    raw.loc[5, column] = value
    path = tmp_path / "customers.csv"
    raw.to_csv(path, index=False)

    report = validate_data(read_raw(path))

    assert not report.passed
    # A NaN TotalCharges reads as blank: refused by the rule that only tenure-0 rows may be blank.
    assert any(f.column == column or column in f.message for f in report.failures)
