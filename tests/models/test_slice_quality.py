"""Model quality is sufficient on every important slice of customers, not just on average.

The default model specification is trained on the train split and scored on the test split of
the real IBM data when ``CHURNGUARD_REAL_DATA`` names it, otherwise of synthetic customers shaped
like it (so the check runs everywhere). The slices are those ``churnguard evaluate`` reports:
Contract, tenure bucket, InternetService and SeniorCitizen (senior citizens are the inclusion
check of the rubric). A slice is judged when it holds enough customers of both classes for its
ROC-AUC to mean something.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from churnguard.config import load_config
from churnguard.data.preprocess import SplitFrames, preprocess_data
from churnguard.data.schema import FEATURE_COLUMNS, TARGET_COLUMN
from churnguard.data.synthetic import generate_customers
from churnguard.models.estimators import build_model_pipeline
from churnguard.models.slices import SLICE_NAMES, slice_metrics

pytestmark = [pytest.mark.model, pytest.mark.integration]
CONFIG = load_config(Path(__file__).resolve().parents[2] / "configs" / "config.yaml", use_env=False)
#: The bar every judged slice must clear, and what makes a slice large enough to judge.
MIN_SLICE_ROC_AUC = 0.70
MIN_SLICE_ROWS = 100
MIN_SLICE_CLASS_ROWS = 10


@pytest.fixture(scope="module")
def splits() -> SplitFrames:
    """The configured split of the real data if present, else of 7,043 synthetic customers."""
    real = os.environ.get("CHURNGUARD_REAL_DATA")
    use_real = bool(real) and Path(str(real)).is_file()
    raw = pd.read_csv(str(real)) if use_real else generate_customers(7043, seed=42)
    return preprocess_data(raw, CONFIG.split)


@pytest.fixture(scope="module")
def slices(splits: SplitFrames) -> pd.DataFrame:
    """Per-slice metrics of the default model on the test split."""
    model = build_model_pipeline(CONFIG.features, CONFIG.model)
    model.fit(splits.train[list(FEATURE_COLUMNS)], splits.train[TARGET_COLUMN])
    test = splits.test
    proba = model.predict_proba(test[list(FEATURE_COLUMNS)])[:, 1]
    return slice_metrics(test, test[TARGET_COLUMN], proba, 0.5, CONFIG.features.tenure_bins)


def test_default_model_quality_is_sufficient_on_every_important_slice(
    slices: pd.DataFrame,
) -> None:
    churners = (slices["n"] * slices["churn_rate"]).round()
    judged = slices[
        (slices["n"] >= MIN_SLICE_ROWS)
        & (churners >= MIN_SLICE_CLASS_ROWS)
        & (slices["n"] - churners >= MIN_SLICE_CLASS_ROWS)
    ]
    # Every slice family is judged on at least two of its values, so the bar is never vacuous.
    assert judged["slice"].value_counts().reindex(list(SLICE_NAMES)).min() >= 2, judged
    weak = judged[judged["roc_auc"] < MIN_SLICE_ROC_AUC]
    assert weak.empty, f"ROC-AUC below {MIN_SLICE_ROC_AUC} on slices:\n" + weak[
        ["slice", "value", "n", "churn_rate", "roc_auc"]
    ].to_string(index=False)
