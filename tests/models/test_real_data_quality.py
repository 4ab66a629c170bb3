"""Behaviour and minimum quality of the default model on the real IBM data (skipped without it)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from churnguard.config import load_config
from churnguard.data.preprocess import preprocess_data
from churnguard.models.behaviour import behaviour_suite
from churnguard.models.train import fit_model

pytestmark = [pytest.mark.model, pytest.mark.integration]
CONFIG_PATH = Path(__file__).resolve().parents[2] / "configs" / "config.yaml"


def test_default_model_meets_minimum_quality_and_behaviour_on_the_real_data(
    real_data_path: Path,
) -> None:
    config = load_config(CONFIG_PATH, use_env=False)
    config = config.model_copy(
        update={"model": config.model.model_copy(update={"calibration": "none"})}
    )
    splits = preprocess_data(pd.read_csv(real_data_path), config.split)
    fitted = fit_model(splits.train, config)
    auc = roc_auc_score(splits.test["Churn"], fitted.predict_proba(splits.test))
    assert auc >= 0.83, f"test ROC-AUC {auc:.4f} is below the minimum quality"
    assert auc < 0.87, f"test ROC-AUC {auc:.4f} is implausibly high for this data: look for a leak"
    results = {
        check.name: check for check in behaviour_suite(fitted.model, splits.test, config.gate)
    }
    assert all(check.passed for check in results.values()), results
