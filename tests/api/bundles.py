"""Builders shared by the API tests: a small model bundle and app configurations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from churnguard.config import ChurnguardConfig, load_config
from churnguard.data.preprocess import preprocess_data
from churnguard.data.schema import FEATURE_COLUMNS
from churnguard.data.synthetic import generate_customers
from churnguard.models.estimators import build_model_pipeline
from churnguard.models.fastpath import encoded_mean
from churnguard.models.tracking import save_bundle

CONFIG = load_config(Path(__file__).resolve().parents[2] / "configs" / "config.yaml", use_env=False)


def app_config(model_uri: str, store: Path, **serving: Any) -> ChurnguardConfig:
    """The test configuration serving ``model_uri`` with its store in ``store``."""
    update = {"model_uri": model_uri, "store_url": f"sqlite:///{store}", **serving}
    return CONFIG.model_copy(update={"serving": CONFIG.serving.model_copy(update=update)})


def make_bundle(path: Path, seed: int = 41, n_estimators: int = 40) -> tuple[Path, Any]:
    """Train a small blend on synthetic data and save it as a bundle at ``path``."""
    splits = preprocess_data(generate_customers(1500, seed=seed))
    model = build_model_pipeline(
        CONFIG.features, CONFIG.model, {"lightgbm__n_estimators": n_estimators}
    )
    model.fit(splits.train, splits.train["Churn"])
    train = splits.train[list(FEATURE_COLUMNS)]
    metadata = {
        "threshold": 0.4,
        "estimator": "blend",
        "calibration": "none",
        "data_sha256": "ab" * 32,
        "linear_background": encoded_mean(model, train),
    }
    save_bundle(model, train, metadata, path)
    return path, model
