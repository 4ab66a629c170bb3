from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.special import logit

from churnguard.config import load_config
from churnguard.data.preprocess import SplitFrames, preprocess_data
from churnguard.data.schema import FEATURE_COLUMNS
from churnguard.data.synthetic import generate_customers
from churnguard.features import build_feature_pipeline
from churnguard.features.lineage import ENGINEERED_SOURCES, encoded_sources
from churnguard.models.estimators import build_model_pipeline
from churnguard.models.explain import unwrap_pipeline
from churnguard.models.predict import ChurnScorer
from churnguard.models.train import fit_model

pytestmark = pytest.mark.unit
CONFIG = load_config(Path(__file__).resolve().parents[2] / "configs" / "config.yaml", use_env=False)
SMALL = {
    "lightgbm": {"n_estimators": 40},
    "logistic": None,
    "blend": {"lightgbm__n_estimators": 40},
}


@pytest.fixture(scope="module")
def splits() -> SplitFrames:
    return preprocess_data(generate_customers(1500, seed=31))


@pytest.fixture(scope="module", params=["lightgbm", "logistic", "blend"])
def scorer(request: pytest.FixtureRequest, splits: SplitFrames) -> ChurnScorer:
    estimator = request.param
    pipeline = build_model_pipeline(CONFIG.features, CONFIG.model, SMALL[estimator], estimator)
    return ChurnScorer(pipeline.fit(splits.train, splits.train["Churn"]), threshold=0.4)


def test_every_encoded_column_is_traced_to_raw_fields(splits: SplitFrames) -> None:
    pipeline = build_feature_pipeline(CONFIG.features).fit(splits.train)
    sources = encoded_sources(pipeline)
    assert list(sources) == pipeline.get_feature_names_out().tolist()
    assert {field for fields in sources.values() for field in fields} <= set(FEATURE_COLUMNS)
    assert sources["Contract_Two_year"] == ("Contract",)
    assert sources["charges_ratio"] == ENGINEERED_SOURCES["charges_ratio"]


def test_score_gives_probability_decision_and_band(
    scorer: ChurnScorer, splits: SplitFrames
) -> None:
    table = scorer.score(splits.test)
    assert list(table.columns) == ["churn_probability", "churn", "risk_band"]
    assert table.index.equals(splits.test.index)
    p = table["churn_probability"]
    assert ((p >= 0) & (p <= 1)).all()
    assert (table["churn"] == (p >= 0.4)).all()
    assert (table.loc[p >= 0.4, "risk_band"] == "high").all()
    assert (table.loc[(p < 0.4) & (p >= 0.2), "risk_band"] == "medium").all()
    assert (table.loc[p < 0.2, "risk_band"] == "low").all()


def test_field_contributions_add_up_to_the_log_odds(
    scorer: ChurnScorer, splits: SplitFrames
) -> None:
    per_field, base = scorer.field_contributions(splits.test)
    assert list(per_field.columns) == list(FEATURE_COLUMNS)
    expected = logit(unwrap_pipeline(scorer.model).predict_proba(splits.test)[:, 1])
    assert np.allclose(per_field.sum(axis=1).to_numpy() + base, expected, atol=1e-9)


def test_an_excluded_field_never_explains_anything(
    scorer: ChurnScorer, splits: SplitFrames
) -> None:
    per_field, _ = scorer.field_contributions(splits.test)
    assert (per_field["gender"] == 0).all()


def test_top_reasons_are_the_largest_contributions_with_the_customer_values(
    scorer: ChurnScorer, splits: SplitFrames
) -> None:
    rows = splits.test.head(5)
    per_field, _ = scorer.field_contributions(rows)
    reasons = scorer.top_reasons(rows, k=3)
    for i, row_reasons in enumerate(reasons):
        assert len(row_reasons) == 3
        sizes = [abs(r.contribution) for r in row_reasons]
        assert sizes == sorted(sizes, reverse=True)
        assert sizes[0] == pytest.approx(per_field.iloc[i].abs().max())
        for reason in row_reasons:
            assert reason.value == rows.iloc[i][reason.field]


def test_a_single_record_is_scored_and_explained(scorer: ChurnScorer, splits: SplitFrames) -> None:
    one = splits.test.drop(columns=["customerID", "Churn"]).head(1)
    assert len(scorer.score(one)) == 1
    assert len(scorer.top_reasons(one, k=2)[0]) == 2


def test_a_calibrated_model_is_scored_calibrated_and_explained_uncalibrated(
    splits: SplitFrames,
) -> None:
    model = CONFIG.model.model_copy(
        update={"estimator": "lightgbm", "calibration": "sigmoid", "cv_folds": 3}
    )
    fitted = fit_model(
        splits.train, CONFIG.model_copy(update={"model": model}), {"n_estimators": 30}
    )
    scorer = ChurnScorer(fitted.model, fitted.threshold.threshold)
    np.testing.assert_allclose(
        scorer.churn_probability(splits.test),
        fitted.predict_proba(splits.test),
        rtol=0,
        atol=1e-12,  # the batch path sums the forest in another order than LightGBM
    )
    per_field, base = scorer.field_contributions(splits.test)
    inner = logit(unwrap_pipeline(fitted.model).predict_proba(splits.test)[:, 1])
    assert np.allclose(per_field.sum(axis=1).to_numpy() + base, inner, atol=1e-9)


@pytest.mark.parametrize("threshold", [0.0, 1.0, -0.1])
def test_threshold_must_lie_strictly_between_zero_and_one(
    splits: SplitFrames, threshold: float
) -> None:
    pipeline = build_model_pipeline(CONFIG.features, CONFIG.model, estimator="logistic").fit(
        splits.train, splits.train["Churn"]
    )
    with pytest.raises(ValueError, match="threshold must be within"):
        ChurnScorer(pipeline, threshold)
