"""Shared fixtures: small synthetic data, a throwaway project folder, the real data when present."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from fraudstream.config import FraudstreamConfig, load_config
from fraudstream.data.synthetic import generate_customers

if TYPE_CHECKING:
    from fraudstream.monitoring.store import MonitoringStore

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_DATA_ENV = "FRAUDSTREAM_REAL_DATA"
POSTGRES_URL_ENV = "FRAUDSTREAM_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's FRAUDSTREAM_* overrides (the real-data path aside)."""
    for name in list(os.environ):
        if name.startswith("FRAUDSTREAM_") and name != REAL_DATA_ENV:
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def raw_customers() -> pd.DataFrame:
    """400 synthetic customers in the raw Telco layout (as read from CSV)."""
    return generate_customers(400, seed=7)


@pytest.fixture
def raw_csv(tmp_path: Path, raw_customers: pd.DataFrame) -> Path:
    """The synthetic customers written as a raw CSV file."""
    path = tmp_path / "input" / "customers.csv"
    path.parent.mkdir(parents=True)
    raw_customers.to_csv(path, index=False)
    return path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with configs/ copied from the repo, as the working directory.

    The data source is the synthetic generator with 400 rows, so nothing touches the network.
    """
    root = tmp_path / "project"
    (root / "configs").mkdir(parents=True)
    config = yaml.safe_load((REPO_ROOT / "configs" / "config.yaml").read_text())
    config["data"]["source"] = "synthetic"
    config["data"]["synthetic"]["n_rows"] = 400
    (root / "configs" / "config.yaml").write_text(yaml.safe_dump(config))
    (root / "configs" / "logging.yaml").write_text(
        (REPO_ROOT / "configs" / "logging.yaml").read_text()
    )
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def project_config(project: Path) -> FraudstreamConfig:
    """The validated configuration of the :func:`project` folder."""
    return load_config(project / "configs" / "config.yaml")


@pytest.fixture(scope="session")
def real_data_path() -> Path:
    """The IBM Telco CSV named by FRAUDSTREAM_REAL_DATA; the test is skipped when it is absent."""
    value = os.environ.get(REAL_DATA_ENV)
    if not value:
        pytest.skip(f"{REAL_DATA_ENV} is not set: real-data tests need the IBM Telco churn CSV")
    path = Path(value)
    if not path.is_file():
        pytest.skip(
            f"{REAL_DATA_ENV}={value} does not exist: real-data tests need the IBM Telco CSV"
        )
    return path


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The URL of a reachable PostgreSQL; skipped (failed on CI) when there is none.

    Session scoped, so it reads the variable before the per-test FRAUDSTREAM_* clean-up.
    """
    url = os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL)
    engine = sa.create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        shown = sa.make_url(url).render_as_string(hide_password=True)
        reason = f"PostgreSQL at {shown} is not reachable ({type(exc).__name__}): start it or point {POSTGRES_URL_ENV} at one"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must provide a database")
        pytest.skip(reason)
    finally:
        engine.dispose()
    return url


# -- monitoring: a prediction store with logged traffic and labels ----------------------------
def _logged_rows(
    frame: pd.DataFrame, probability: np.ndarray, prefix: str, start: datetime
) -> list[dict[str, object]]:
    from fraudstream.data.schema import FEATURE_COLUMNS, ID_COLUMN

    rows: list[dict[str, object]] = []
    for i, (record, p) in enumerate(zip(frame.to_dict("records"), probability, strict=True)):
        rows.append(
            {
                "record_id": f"{prefix}-{i}",
                "request_id": f"{prefix}-{i}",
                "row_index": 0,
                "customer_id": str(record[ID_COLUMN]),
                "model_version": "1",
                "model_alias": "champion",
                "created_at": start + timedelta(seconds=i),
                "features": {
                    c: record[c].item() if hasattr(record[c], "item") else record[c]
                    for c in FEATURE_COLUMNS
                },
                "churn_probability": float(p),
                "churn": bool(p >= 0.5),
                "latency_ms": 1.0,
                "endpoint": "/predict",
            }
        )
    return rows


@pytest.fixture(scope="session")
def monitored_traffic(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A sqlite prediction store with 400 logged predictions (the second half drifted) and a
    label for each, plus the drift reference of the model that made them.

    The model is a small logistic regression on synthetic customers; probabilities are its own.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from fraudstream.data.drift import DriftSpec
    from fraudstream.data.preprocess import coerce_types
    from fraudstream.data.schema import CATEGORICAL_FEATURES, FEATURE_COLUMNS, NUMERIC_FEATURES
    from fraudstream.monitoring.reference import build_drift_reference
    from fraudstream.monitoring.store import Label, MonitoringStore

    folder = tmp_path_factory.mktemp("monitored")
    train = coerce_types(generate_customers(3000, seed=11))
    encode = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL_FEATURES)),
            ("numbers", "passthrough", list(NUMERIC_FEATURES)),
        ]
    )
    model = make_pipeline(encode, LogisticRegression(max_iter=3000)).fit(
        train[list(FEATURE_COLUMNS)], train["Churn"]
    )
    held_out = coerce_types(generate_customers(2000, seed=12))
    reference = build_drift_reference(
        train[list(FEATURE_COLUMNS)], model.predict_proba(held_out[list(FEATURE_COLUMNS)])[:, 1]
    )
    reference_path = folder / "drift_reference.json"
    reference_path.write_text(reference.model_dump_json(), encoding="utf-8")
    normal = coerce_types(generate_customers(200, seed=13))
    drifted = coerce_types(
        generate_customers(
            200,
            seed=14,
            drift=DriftSpec(
                numeric_shift={"MonthlyCharges": 1.4, "tenure": 0.5},
                category_mix={
                    "Contract": {"Month-to-month": 0.9, "One year": 0.05, "Two year": 0.05}
                },
            ),
        )
    )
    start = datetime.now(UTC) - timedelta(minutes=45)
    url = f"sqlite:///{folder / 'store.db'}"
    store = MonitoringStore(url)
    store.create()
    for prefix, frame, offset in (("n", normal, 0), ("d", drifted, 1800)):
        probability = model.predict_proba(frame[list(FEATURE_COLUMNS)])[:, 1]
        store.write_predictions(
            _logged_rows(frame, probability, prefix, start + timedelta(seconds=offset))  # type: ignore[arg-type]
        )
        store.add_labels(
            [
                Label(churn=bool(churn), request_id=f"{prefix}-{i}")
                for i, churn in enumerate(frame["Churn"])
            ]
        )
    store.close()
    return url, reference_path


@pytest.fixture(
    params=[
        pytest.param("sqlite", marks=pytest.mark.unit),
        pytest.param("postgresql", marks=pytest.mark.integration),
    ]
)
def monitoring_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MonitoringStore]:
    """An empty prediction store with its tables: a sqlite file, or a throwaway PostgreSQL schema."""
    from fraudstream.monitoring.store import MonitoringStore

    if request.param == "sqlite":
        created = MonitoringStore(f"sqlite:///{tmp_path / 'serving.db'}")
        created.create()
        yield created
        created.close()
        return
    admin_url = request.getfixturevalue("postgres_url")
    schema = f"cg_store_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url)
    with admin.begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    url = sa.make_url(admin_url).update_query_dict({"options": f"-csearch_path={schema}"})
    created = MonitoringStore(url.render_as_string(hide_password=False))
    try:
        created.create()
        yield created
    finally:
        created.close()
        with admin.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
