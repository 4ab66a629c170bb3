"""Helpers of the live-server tests: model bundles, and a real ``churnguard serve`` process.

The server runs as a subprocess in its own process group, bound to a free loopback port, with
its stdout and stderr captured to a file so tests can read its access log. Nothing here touches
the network beyond 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from churnguard.api.schemas import CustomerRecord
from churnguard.api.state import records_frame
from churnguard.config import load_config
from churnguard.data.preprocess import preprocess_data
from churnguard.data.schema import FEATURE_COLUMNS, TARGET_COLUMN
from churnguard.data.synthetic import generate_customers
from churnguard.io import sha256_file, write_model_json
from churnguard.models.bundle import MANIFEST_NAME, ModelRecord
from churnguard.models.estimators import build_model_pipeline
from churnguard.models.fastpath import encoded_mean
from churnguard.models.tracking import save_bundle

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_PATH = REPO_ROOT / "configs" / "config.yaml"
CHURNGUARD = Path(sys.executable).with_name("churnguard")
API_KEY = "test-key-0123456789"
#: Start-up (imports, model load and warm-up) takes a few seconds; a slow CI runner gets slack.
STARTUP_TIMEOUT_SECONDS = 90.0
#: Variables of the developer's shell that must not leak into the server under test.
_LEAKY_PREFIXES = ("CHURNGUARD_", "MLFLOW_", "PROMETHEUS_MULTIPROC_DIR")


@dataclass(frozen=True)
class Bundle:
    """A local model bundle and the fitted model it holds."""

    path: Path
    model: Any
    train: pd.DataFrame

    @property
    def model_file(self) -> Path:
        """The serialized model (MLflow's sklearn flavour saves it as ``model.skops``)."""
        return self.path / "model.skops"

    def probability(self, records: Sequence[Mapping[str, Any]]) -> list[float]:
        """The churn probability the scikit-learn pipeline gives ``records`` (the reference)."""
        return reference_probability(self.model, records)


def reference_probability(model: Any, records: Sequence[Mapping[str, Any]]) -> list[float]:
    """``model.predict_proba`` of API records, prepared as the service prepares them."""
    frame = records_frame([CustomerRecord.model_validate(r) for r in records])
    return [float(p) for p in model.predict_proba(frame[list(FEATURE_COLUMNS)])[:, 1]]


def train_frame(rows: int = 1500, seed: int = 41) -> pd.DataFrame:
    """The processed train split of ``rows`` synthetic customers."""
    return preprocess_data(generate_customers(rows, seed=seed)).train


def build_bundle(
    path: Path,
    train: pd.DataFrame,
    *,
    lightgbm: Mapping[str, Any] | None = None,
    threshold: float = 0.4,
    version: str | None = None,
) -> Bundle:
    """Fit a small model on ``train`` and save it as a bundle at ``path``.

    Args:
        path: The bundle folder to create.
        train: A processed train split.
        lightgbm: LightGBM overrides (different values give a different model).
        threshold: The decision threshold recorded in the model's metadata.
        version: When given, a ``churnguard_bundle.json`` manifest naming this registry version
            (and the model file's sha256) is written, as ``churnguard export`` does.
    """
    config = load_config(CONFIG_PATH, use_env=False)
    overrides = {f"lightgbm__{k}": v for k, v in (lightgbm or {"n_estimators": 40}).items()}
    model = build_model_pipeline(config.features, config.model, overrides)
    features = train[list(FEATURE_COLUMNS)]
    model.fit(features, train[TARGET_COLUMN])
    metadata = {
        "threshold": threshold,
        "estimator": "blend",
        "calibration": "none",
        "data_sha256": "ab" * 32,
        "linear_background": encoded_mean(model, features),
    }
    save_bundle(model, features, metadata, path)
    bundle = Bundle(path=path, model=model, train=train)
    if version is not None:
        write_manifest(path, version=version, model_sha256=sha256_file(bundle.model_file))
    return bundle


def write_manifest(path: Path, *, version: str, model_sha256: str) -> None:
    """Write the bundle manifest ``churnguard export`` writes, with the given version and hash."""
    record = ModelRecord(
        name="churnguard", version=version, run_id=f"run-{version}", model_sha256=model_sha256
    )
    write_model_json(path / MANIFEST_NAME, record)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The test process's environment without CHURNGUARD_/MLFLOW_ settings, plus ``extra``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(_LEAKY_PREFIXES)}
    return base | {"MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONUNBUFFERED": "1"} | dict(extra)


def client(base_url: str, **options: Any) -> httpx.Client:
    """An HTTP client of the live server that never goes through a proxy."""
    options.setdefault("timeout", 30.0)
    return httpx.Client(base_url=base_url, trust_env=False, **options)


@dataclass
class LiveServer:
    """A running ``churnguard serve`` process."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    startup_seconds: float = float("nan")

    def output(self) -> str:
        """Everything the process wrote to stdout and stderr so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        """The JSON log lines the process wrote so far."""
        records = []
        for line in self.output().splitlines():
            with contextlib.suppress(ValueError):
                if isinstance(record := json.loads(line), dict):
                    records.append(record)
        return records

    def wait_for_log(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0
    ) -> dict[str, Any]:
        """The first JSON log record matching ``predicate``, waiting for it up to ``timeout``.

        The access log line is written after the response is sent, so it may lag the client.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = [record for record in self.log_records() if predicate(record)]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                pytest.fail(f"no matching log line within {timeout} s; output:\n{self.tail()}")
            time.sleep(0.05)

    def tail(self, chars: int = 6000) -> str:
        """The end of the output, for failure messages."""
        return self.output()[-chars:]

    def client(self, **options: Any) -> httpx.Client:
        """An HTTP client of this server."""
        return client(self.base_url, **options)


def _wait_until_serving(server: LiveServer, timeout: float) -> float:
    """Poll ``/health`` until it answers 200; the seconds that took.

    uvicorn accepts connections only after the lifespan startup (model load and warm-up) is done.
    """
    started = time.monotonic()
    with client(server.base_url, timeout=2.0) as http:
        while time.monotonic() - started < timeout:
            if server.process.poll() is not None:
                pytest.fail(
                    f"churnguard serve exited with code {server.process.returncode} before it "
                    f"was ready; output:\n{server.tail()}"
                )
            with contextlib.suppress(httpx.TransportError):
                if http.get("/health").status_code == 200:
                    return time.monotonic() - started
            time.sleep(0.05)
    pytest.fail(
        f"churnguard serve did not answer /health within {timeout} s; output:\n{server.tail()}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its own group: only what this test started
        process.wait(timeout=10)


@contextlib.contextmanager
def running_server(
    model_uri: str,
    workdir: Path,
    env: Mapping[str, str] | None = None,
    *,
    timeout: float = STARTUP_TIMEOUT_SECONDS,
) -> Iterator[LiveServer]:
    """Run ``churnguard --log-format json serve`` on a free loopback port until the block ends.

    Args:
        model_uri: ``--model-uri`` (a bundle folder or ``models:/name@alias``).
        workdir: The server's working directory; its output goes to ``workdir/server.log``.
        env: ``CHURNGUARD_*`` (and other) variables of the server, on top of the defaults: the
            test API key and a sqlite store in ``workdir``.
        timeout: Seconds to wait for the server to answer ``/health``.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = workdir / "server.log"
    command = [
        str(CHURNGUARD),
        "--config",
        str(CONFIG_PATH),
        "--log-format",
        "json",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--model-uri",
        model_uri,
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=server_environment(
                {
                    "CHURNGUARD_SERVING_API_KEY": API_KEY,
                    "CHURNGUARD_SERVING_STORE_URL": f"sqlite:///{workdir / 'serving.db'}",
                    **(env or {}),
                }
            ),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LiveServer(process=process, base_url=f"http://127.0.0.1:{port}", log_path=log_path)
    try:
        server.startup_seconds = _wait_until_serving(server, timeout)
        yield server
    finally:
        _stop(process)


__all__ = [
    "API_KEY",
    "CHURNGUARD",
    "CONFIG_PATH",
    "Bundle",
    "LiveServer",
    "build_bundle",
    "client",
    "free_port",
    "reference_probability",
    "running_server",
    "server_environment",
    "train_frame",
    "write_manifest",
]
