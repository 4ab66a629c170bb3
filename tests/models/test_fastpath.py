"""The compiled fast path gives the pipeline's probabilities and exact explanations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.special import logit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline

from churnguard.config import load_config
from churnguard.data.preprocess import SplitFrames, preprocess_data
from churnguard.data.schema import FEATURE_COLUMNS
from churnguard.data.synthetic import generate_customers
from churnguard.features import build_feature_pipeline
from churnguard.features.transformers import TelcoFeatureEngineer, engineer_record
from churnguard.models.estimators import build_model_pipeline
from churnguard.models.explain import contributions
from churnguard.models.fastpath import CompiledModel, UnsupportedModelError, encoded_mean

pytestmark = pytest.mark.unit
CONFIG = load_config(Path(__file__).resolve().parents[2] / "configs" / "config.yaml", use_env=False)
SMALL = {
    "lightgbm": {"n_estimators": 60},
    "logistic": None,
    "blend": {"lightgbm__n_estimators": 60},
}
N_RECORDS = 4000


@pytest.fixture(scope="module")
def splits() -> SplitFrames:
    return preprocess_data(generate_customers(5000, seed=77))


@pytest.fixture(scope="module")
def records(splits: SplitFrames) -> pd.DataFrame:
    # Thousands of unseen records, plus edge cases: zero tenure and zero charges.
    frame = preprocess_data(generate_customers(N_RECORDS, seed=78)).train
    frame = pd.concat([frame, splits.test], ignore_index=True)[list(FEATURE_COLUMNS)]
    edge = frame.head(3).copy()
    edge["tenure"] = [0, 72, 120]
    edge["TotalCharges"] = [0.0, 0.0, 59_000.0]
    return pd.concat([frame, edge], ignore_index=True)


def _fit(splits: SplitFrames, estimator: str, calibration: str, scale: bool) -> Any:
    features = CONFIG.features.model_copy(update={"scale_numeric": scale})
    pipeline = build_model_pipeline(features, CONFIG.model, SMALL[estimator], estimator)
    model = (
        pipeline
        if calibration == "none"
        else CalibratedClassifierCV(pipeline, method=calibration, cv=3, ensemble=False)
    )
    return model.fit(splits.train, splits.train["Churn"])


@pytest.mark.parametrize("estimator", ["blend", "lightgbm", "logistic"])
@pytest.mark.parametrize("calibration", ["none", "sigmoid", "isotonic"])
def test_fast_path_probabilities_equal_the_pipeline(
    splits: SplitFrames, records: pd.DataFrame, estimator: str, calibration: str
) -> None:
    model = _fit(splits, estimator, calibration, scale=estimator != "lightgbm")
    compiled = CompiledModel(model)
    expected = model.predict_proba(records)[:, 1]
    one_by_one = np.array(
        [compiled.probability(compiled.encode_record(r))[0] for r in records.to_dict("records")]
    )
    assert len(one_by_one) > 3000
    np.testing.assert_allclose(one_by_one, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        compiled.probability(compiled.encode_frame(records)), expected, rtol=0, atol=1e-9
    )
    # The batch path: codes and the bit-vector forest, no encoded matrix.
    assert (compiled.forest is not None) == (estimator != "logistic")
    as_lists = {c: records[c].tolist() for c in FEATURE_COLUMNS}
    np.testing.assert_allclose(compiled.columns_probability(as_lists), expected, rtol=0, atol=1e-9)
    small = {c: values[:5] for c, values in as_lists.items()}  # below the forest's batch size
    np.testing.assert_allclose(compiled.columns_probability(small), expected[:5], rtol=0, atol=1e-9)


def test_batch_path_matches_the_pipeline_on_unknown_categories_and_missing_numbers(
    splits: SplitFrames, records: pd.DataFrame
) -> None:
    model = _fit(splits, "blend", "none", scale=True)
    compiled = CompiledModel(model)
    frame = records.head(200).copy()
    frame["PaymentMethod"] = frame["PaymentMethod"].astype(object)
    frame.loc[frame.index[:50], "PaymentMethod"] = "Bitcoin"  # encodes as all zeros
    columns = {c: frame[c].to_numpy() for c in FEATURE_COLUMNS}
    expected = model.predict_proba(frame)[:, 1]
    np.testing.assert_allclose(compiled.columns_probability(columns), expected, rtol=0, atol=1e-9)
    # NaN goes by LightGBM's own missing-value rule: the batch falls back to its predictor.
    columns["MonthlyCharges"] = columns["MonthlyCharges"].astype(np.float64)
    columns["MonthlyCharges"][:10] = np.nan
    fallback = compiled.probability(compiled.encode_columns(columns))
    np.testing.assert_allclose(compiled.columns_probability(columns), fallback, rtol=0, atol=0)


def test_trees_too_large_for_the_forest_are_scored_by_lightgbm(
    splits: SplitFrames, records: pd.DataFrame
) -> None:
    features = CONFIG.features
    pipeline = build_model_pipeline(
        features, CONFIG.model, {"n_estimators": 30, "num_leaves": 16}, "lightgbm"
    ).fit(splits.train, splits.train["Churn"])
    compiled = CompiledModel(pipeline)
    assert compiled.forest is None
    as_lists = {c: records[c].tolist() for c in FEATURE_COLUMNS}
    np.testing.assert_allclose(
        compiled.columns_probability(as_lists),
        pipeline.predict_proba(records)[:, 1],
        rtol=0,
        atol=1e-9,
    )


def test_record_and_frame_encodings_match_the_fitted_encoder(
    splits: SplitFrames, records: pd.DataFrame
) -> None:
    model = _fit(splits, "blend", "none", scale=True)
    compiled = CompiledModel(model)
    reference = model.named_steps["features"].transform(records).to_numpy(dtype=np.float64)
    assert compiled.feature_names == tuple(model.named_steps["features"].get_feature_names_out())
    np.testing.assert_allclose(compiled.encode_frame(records), reference, rtol=0, atol=1e-12)
    as_lists = {c: records[c].tolist() for c in FEATURE_COLUMNS}  # the API's batch input
    np.testing.assert_allclose(compiled.encode_columns(as_lists), reference, rtol=0, atol=1e-12)
    rows = np.vstack([compiled.encode_record(r) for r in records.head(500).to_dict("records")])
    np.testing.assert_allclose(rows, reference[:500], rtol=0, atol=1e-12)


def test_engineer_record_equals_the_vectorised_transform(records: pd.DataFrame) -> None:
    engineer = TelcoFeatureEngineer(tenure_bins=CONFIG.features.tenure_bins).fit(records)
    vectorised = engineer.transform(records)
    for position, record in enumerate(records.to_dict("records")):
        scalar = engineer_record(record, engineer.tenure_bins_, engineer.tenure_bucket_labels_)
        expected = vectorised.iloc[position]
        for name, value in scalar.items():
            if isinstance(value, str):
                assert value == expected[name], (position, name)
            else:
                assert value == pytest.approx(expected[name], rel=0, abs=1e-12), (position, name)


@pytest.mark.parametrize("estimator", ["blend", "lightgbm", "logistic"])
def test_contributions_are_exact_and_linear_ones_use_the_training_background(
    splits: SplitFrames, records: pd.DataFrame, estimator: str
) -> None:
    model = _fit(splits, estimator, "none", scale=True)
    background = encoded_mean(model, splits.train[list(FEATURE_COLUMNS)])
    compiled = CompiledModel(model, background)
    encoded = compiled.encode_frame(records)
    values, base = compiled.contributions(encoded)
    log_odds = logit(model.predict_proba(records)[:, 1])
    np.testing.assert_allclose(values.sum(axis=1) + base, log_odds, rtol=0, atol=1e-9)
    single, single_base = compiled.contributions(compiled.encode_record(records.iloc[0].to_dict()))
    np.testing.assert_allclose(single[0], values[0], atol=1e-12)
    assert single_base[0] == pytest.approx(base[0])
    if estimator != "lightgbm":
        # A single record still gets non-zero linear attributions (measured from the training
        # mean, not from itself).
        assert np.abs(single[0]).sum() > 0.1
    if estimator == "lightgbm":  # TreeSHAP agrees with the reference explain module
        reference, _ = contributions(model, records)
        np.testing.assert_allclose(values, reference.to_numpy(), atol=1e-12)


def test_models_of_another_shape_are_refused(splits: SplitFrames) -> None:
    forest = Pipeline(
        [
            ("features", build_feature_pipeline(CONFIG.features)),
            ("classifier", RandomForestClassifier(n_estimators=5, random_state=0)),
        ]
    ).fit(splits.train, splits.train["Churn"])
    with pytest.raises(UnsupportedModelError, match="RandomForestClassifier"):
        CompiledModel(forest)
    with pytest.raises(TypeError, match="not a churnguard model"):
        CompiledModel(object())


def test_a_background_of_the_wrong_length_is_refused(splits: SplitFrames) -> None:
    model = _fit(splits, "logistic", "none", scale=True)
    with pytest.raises(ValueError, match="background has 3 values"):
        CompiledModel(model, [0.0, 0.0, 0.0])
