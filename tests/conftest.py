"""Shared fixtures: small simulated transactions, a throwaway project folder, PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from fraudstream.config import FraudstreamConfig, load_config
from fraudstream.simulator import SimulatorConfig, simulate

REPO_ROOT = Path(__file__).resolve().parents[1]
POSTGRES_URL_ENV = "FRAUDSTREAM_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
#: The simulator settings of the test projects: small enough for a second, large enough to hold
#: every fraud scenario.
SMALL_SIMULATION = {"customers": 100, "terminals": 200, "days": 30, "seed": 7}


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's FRAUDSTREAM_* overrides."""
    for name in list(os.environ):
        if name.startswith("FRAUDSTREAM_") and name != POSTGRES_URL_ENV:
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def transactions() -> pd.DataFrame:
    """A small simulated transaction log (100 cards, 200 terminals, 30 days), as typed frames."""
    return simulate(SimulatorConfig(**SMALL_SIMULATION))


@pytest.fixture
def transactions_csv(tmp_path: Path, transactions: pd.DataFrame) -> Path:
    """The simulated transactions written as a CSV file."""
    path = tmp_path / "input" / "transactions.csv"
    path.parent.mkdir(parents=True)
    transactions.to_csv(path, index=False)
    return path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with configs/ copied from the repo, as the working directory.

    The source is the simulator at :data:`SMALL_SIMULATION` size, so nothing touches the network.
    """
    root = tmp_path / "project"
    (root / "configs").mkdir(parents=True)
    config = yaml.safe_load((REPO_ROOT / "configs" / "config.yaml").read_text())
    config["data"]["source"] = "simulator"
    config["simulator"] |= SMALL_SIMULATION
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
