"""The model the serving benchmark serves: trained, registered and promoted in a temp store.

Helper of ``benchmarks/serving.py``. Runs the project's own pipeline functions (preprocess →
``train_and_log`` → ``register_challenger`` → ``promote``) against a throw-away sqlite MLflow
store, so ``models:/churnguard@champion`` exists for both servers and nothing in the repository
is touched.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from churnguard.config import ChurnguardConfig, load_config
from churnguard.data.preprocess import SplitFrames, preprocess_data
from churnguard.data.synthetic import generate_customers
from churnguard.models.registry import CHAMPION, register_challenger
from churnguard.models.run import train_and_log

REAL_DATA_ENV = "CHURNGUARD_REAL_DATA"
#: The issue's reference model: one-hot + LightGBM, 500 trees of 8 leaves.
REFERENCE_LIGHTGBM = {"n_estimators": 500, "num_leaves": 8}


@dataclass(frozen=True)
class BenchmarkModel:
    """The registered champion and what the benchmark needs to know about it."""

    config: ChurnguardConfig
    model_uri: str
    version: int
    estimator: str
    params: dict[str, Any]
    calibration: str
    threshold: float
    test_roc_auc: float
    promotion: str
    data_source: str
    splits: SplitFrames


def load_raw_customers(synthetic_rows: int, seed: int) -> tuple[pd.DataFrame, str, str]:
    """The raw Telco frame, a label for it and its sha256 (real CSV, or the synthetic generator)."""
    path = os.environ.get(REAL_DATA_ENV)
    if path and Path(path).is_file():
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        return pd.read_csv(path), f"real ({Path(path).name})", digest
    print(
        f"note: {REAL_DATA_ENV} is not set to a readable file; using {synthetic_rows:,} synthetic "
        f"customers from churnguard.data.synthetic.generate_customers (seed {seed})"
    )
    raw = generate_customers(synthetic_rows, seed=seed)
    digest = hashlib.sha256(pd.util.hash_pandas_object(raw).to_numpy().tobytes()).hexdigest()
    return raw, f"synthetic ({synthetic_rows:,} rows, seed {seed})", digest


def benchmark_config(
    config_path: Path, store: Path, *, reference_lightgbm: bool = False
) -> ChurnguardConfig:
    """The project configuration pointed at a temp MLflow store; tuning off (default params)."""
    config = load_config(config_path)
    mlflow_config = config.mlflow.model_copy(
        update={
            "tracking_uri": f"sqlite:///{store / 'mlflow.db'}",
            "registry_uri": None,
            "artifact_location": str(store / "mlruns"),
        }
    )
    model = config.model
    if reference_lightgbm:
        model = model.model_copy(
            update={"estimator": "lightgbm", "lightgbm": model.lightgbm | REFERENCE_LIGHTGBM}
        )
    return config.model_copy(
        update={
            "mlflow": mlflow_config,
            "model": model,
            "tuning": config.tuning.model_copy(update={"enabled": False}),
            "registry": config.registry.model_copy(
                update={"history_file": store / "model_registry.json"}
            ),
        }
    )


def _make_champion(config: ChurnguardConfig, splits: SplitFrames, version: int) -> str:
    """Promote through the quality gate; set the alias directly only if the gate refuses."""
    from mlflow import MlflowClient

    from churnguard.models.registry import promote

    decision = promote(config, splits.train, splits.test, actor="benchmark")
    if decision.promoted:
        return f"quality gate passed: {decision.reason}"
    MlflowClient().set_registered_model_alias(config.registry.model_name, CHAMPION, str(version))
    return f"quality gate refused ({decision.reason}); champion alias set directly"


def train_champion(
    config: ChurnguardConfig, raw: pd.DataFrame, source: str, sha: str
) -> BenchmarkModel:
    """Train the configured model, register it and make it the champion."""
    splits = preprocess_data(raw, config.split)
    _, result = train_and_log(config, splits, sha, tuned=None, reference_profile=None)
    version = register_challenger(result.model_uri, result.run_id, result.metrics, sha, config)
    promotion = _make_champion(config, splits, version)
    return BenchmarkModel(
        config=config,
        model_uri=f"models:/{config.registry.model_name}@{CHAMPION}",
        version=version,
        estimator=result.estimator,
        params=result.params,
        calibration=result.calibration,
        threshold=result.threshold,
        test_roc_auc=float(result.metrics.get("test_roc_auc", float("nan"))),
        promotion=promotion,
        data_source=source,
        splits=splits,
    )
