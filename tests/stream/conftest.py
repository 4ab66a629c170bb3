"""Fixtures of the stream tests: a real broker and a real Redis, started and stopped here."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import yaml
from mlflow import MlflowClient
from stream_services import Broker, RedisServer, kafka_broker, redis_server

from fraudstream.broker.kafka_python import prepare_kafka_python
from fraudstream.config import FraudstreamConfig, load_config
from fraudstream.simulator import SimulatorConfig, simulate

# Every kafka-python client of the tests closes its failed sockets and checksums in C.
prepare_kafka_python()

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def service_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the services' logs go (printed on failure by the tests that need them)."""
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def broker(service_logs: Path) -> Iterator[Broker]:
    """A Kafka-protocol broker on a free port, for the whole session."""
    with kafka_broker(service_logs) as running:
        yield running


@pytest.fixture(scope="session")
def redis_service(service_logs: Path) -> Iterator[RedisServer]:
    """A private Redis on a free port, for the whole session."""
    with redis_server(service_logs) as running:
        yield running


@pytest.fixture
def redis_url(redis_service: RedisServer) -> str:
    """The private Redis, emptied before the test."""
    client = redis.Redis.from_url(redis_service.url)
    client.flushall()
    client.close()
    return redis_service.url


#: The champion's training data: 60 days, so the default protocol shifted to day 35 fits.
CHAMPION_SIMULATION = {"customers": 400, "terminals": 800, "days": 60, "seed": 11}
_CHAMPION_SETTINGS = {
    "simulator": CHAMPION_SIMULATION,
    "protocol": {"start_date": "2018-05-06", "folds": 2},
    # 8 of 400 cards a day: the reference's 100 of 5,000, scaled.
    "model": {
        "alert_budget_k": 8,
        "lightgbm": {
            "n_estimators": 40,
            "learning_rate": 0.1,
            "num_leaves": 7,
            "min_child_samples": 20,
        },
    },
    "tuning": {"n_trials": 2, "max_estimators": 40, "max_leaves": 8},
}


@dataclass(frozen=True)
class ChampionProject:
    """A project folder whose MLflow registry holds a trained champion (version 1)."""

    root: Path
    training_file: Path

    def env(self, **overrides: str) -> dict[str, str]:
        """The environment of a ``fraudstream`` process working in this project."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("FRAUDSTREAM_")}
        return base | {"FRAUDSTREAM_LOG_FORMAT": "json"} | overrides

    def config(self, **env: str) -> FraudstreamConfig:
        """The project's configuration with ``FRAUDSTREAM_*`` overrides applied."""
        saved = dict(os.environ)
        try:
            os.environ.update(env)
            return load_config(self.root / "configs" / "config.yaml")
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
        """Run ``fraudstream ARGS`` in the project; fail the test with its output on an error."""
        done = subprocess.run(
            [FRAUDSTREAM, *args],
            cwd=self.root,
            env=env or self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, f"fraudstream {' '.join(args)}: {done.stdout}\n{done.stderr}"
        return done.stdout + done.stderr

    def set_champion(self, version: int) -> None:
        """Point the ``champion`` alias at ``version`` (what a promotion does)."""
        client = MlflowClient(tracking_uri=f"sqlite:///{self.root / 'mlflow.db'}")
        client.set_registered_model_alias("fraudstream", "champion", str(version))


FRAUDSTREAM = str(Path(sys.executable).with_name("fraudstream"))


@pytest.fixture(scope="session")
def champion_project(tmp_path_factory: pytest.TempPathFactory) -> ChampionProject:
    """A project with a small LightGBM champion trained on a 60-day simulation (once per session)."""
    root = tmp_path_factory.mktemp("champion")
    (root / "configs").mkdir()
    config = yaml.safe_load((REPO_ROOT / "configs" / "config.yaml").read_text())
    for section, values in _CHAMPION_SETTINGS.items():
        config[section] |= values
    (root / "configs" / "config.yaml").write_text(yaml.safe_dump(config))
    (root / "configs" / "logging.yaml").write_text(
        (REPO_ROOT / "configs" / "logging.yaml").read_text()
    )
    training_file = root / "training.parquet"
    simulate(SimulatorConfig(**CHAMPION_SIMULATION)).to_parquet(training_file)
    project = ChampionProject(root, training_file)
    project.run("train", "--input", str(training_file))
    project.set_champion(1)
    return project
