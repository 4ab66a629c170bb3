"""Shared fixtures: small synthetic data, a throwaway project folder, the real data when present."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from churnguard.config import ChurnguardConfig, load_config
from churnguard.data.synthetic import generate_customers

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_DATA_ENV = "CHURNGUARD_REAL_DATA"
POSTGRES_URL_ENV = "CHURNGUARD_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's CHURNGUARD_* overrides (the real-data path aside)."""
    for name in list(os.environ):
        if name.startswith("CHURNGUARD_") and name != REAL_DATA_ENV:
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
def project_config(project: Path) -> ChurnguardConfig:
    """The validated configuration of the :func:`project` folder."""
    return load_config(project / "configs" / "config.yaml")


@pytest.fixture(scope="session")
def real_data_path() -> Path:
    """The IBM Telco CSV named by CHURNGUARD_REAL_DATA; the test is skipped when it is absent."""
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

    Session scoped, so it reads the variable before the per-test CHURNGUARD_* clean-up.
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
