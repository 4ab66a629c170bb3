"""Tests of the feature pipeline placed in front of the estimator in the logged model."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline

from churnguard.data.schema import CATEGORIES, FEATURE_COLUMNS, ID_COLUMN, TARGET_COLUMN
from churnguard.features import (
    CONTINUOUS_FEATURES,
    FLAG_FEATURES,
    FeatureConfig,
    build_feature_pipeline,
    engineered_feature_frame,
    one_hot_feature_name,
)

pytestmark = pytest.mark.unit

_N_ONE_HOT = sum(len(values) for values in CATEGORIES.values()) + 6  # + six tenure buckets
_N_OUTPUT = _N_ONE_HOT + len(CONTINUOUS_FEATURES) + len(FLAG_FEATURES)


def test_build_feature_pipeline_returns_an_unfitted_engineer_then_encoder(feature_config):
    pipeline = build_feature_pipeline(feature_config)

    assert isinstance(pipeline, Pipeline)
    assert [name for name, _ in pipeline.steps] == ["engineer", "encode"]
    assert not hasattr(pipeline.named_steps["engineer"], "tenure_bins_")
    assert pipeline.named_steps["engineer"].tenure_bins == feature_config.tenure_bins


def test_pipeline_outputs_a_numeric_frame_named_by_get_feature_names_out(
    feature_config, processed_frame
):
    pipeline = build_feature_pipeline(feature_config)

    features = pipeline.fit_transform(processed_frame)

    assert isinstance(features, pd.DataFrame)
    assert features.shape == (len(processed_frame), _N_OUTPUT)
    assert list(features.columns) == pipeline.get_feature_names_out().tolist()
    assert features.index.equals(processed_frame.index)
    assert all(pd.api.types.is_numeric_dtype(dtype) for dtype in features.dtypes)
    assert not features.isna().any().any()


def test_pipeline_feature_names_have_no_whitespace(feature_config, processed_frame):
    names = build_feature_pipeline(feature_config).fit(processed_frame).get_feature_names_out()

    assert "InternetService_Fiber_optic" in names
    assert "tenure_bucket_72+" in names
    assert not [name for name in names if any(c.isspace() for c in name)]


def test_one_hot_feature_name_replaces_whitespace_with_underscores():
    assert one_hot_feature_name("PaymentMethod", "Bank transfer (automatic)") == (
        "PaymentMethod_Bank_transfer_(automatic)"
    )


def test_pipeline_one_hot_columns_do_not_depend_on_training_values(
    feature_config, processed_frame, three_customers
):
    wide = build_feature_pipeline(feature_config).fit(processed_frame)
    narrow = build_feature_pipeline(feature_config).fit(three_customers.iloc[[0]])

    assert narrow.get_feature_names_out().tolist() == wide.get_feature_names_out().tolist()


def test_pipeline_encodes_an_unknown_category_as_all_zeros(feature_config, processed_frame):
    pipeline = build_feature_pipeline(feature_config).fit(processed_frame)
    row = processed_frame.iloc[[0]][list(FEATURE_COLUMNS)].assign(PaymentMethod="Bitcoin")

    features = pipeline.transform(row)

    payment = features.filter(like="PaymentMethod_")
    assert payment.shape == (1, len(CATEGORIES["PaymentMethod"]))
    assert payment.to_numpy().sum() == 0.0
    contract = one_hot_feature_name("Contract", row["Contract"].iloc[0])
    assert features[contract].iloc[0] == 1.0


def test_pipeline_fitted_on_one_frame_transforms_it_like_fit_transform(
    feature_config, processed_frame, other_processed_frame
):
    fitted = build_feature_pipeline(feature_config).fit(other_processed_frame)
    refitted = build_feature_pipeline(feature_config).fit(other_processed_frame)

    pd.testing.assert_frame_equal(
        fitted.transform(processed_frame),
        refitted.transform(processed_frame),
    )
    pd.testing.assert_frame_equal(
        build_feature_pipeline(feature_config).fit_transform(processed_frame),
        build_feature_pipeline(feature_config).fit(processed_frame).transform(processed_frame),
    )


def test_pipeline_single_row_transform_matches_the_batch_transform(
    feature_config, processed_frame, other_processed_frame
):
    pipeline = build_feature_pipeline(feature_config).fit(processed_frame)
    batch = pipeline.transform(other_processed_frame)

    single = pipeline.transform(other_processed_frame.iloc[[5]][list(FEATURE_COLUMNS)])

    pd.testing.assert_frame_equal(single, batch.iloc[[5]])


def test_pipeline_is_deterministic(feature_config, processed_frame):
    first = build_feature_pipeline(feature_config).fit_transform(processed_frame)
    second = build_feature_pipeline(feature_config).fit_transform(processed_frame.copy())

    pd.testing.assert_frame_equal(first, second)


def test_pipeline_scales_continuous_features_only_when_configured(processed_frame):
    scaled = build_feature_pipeline(FeatureConfig()).fit_transform(processed_frame)
    raw = build_feature_pipeline(FeatureConfig(scale_numeric=False)).fit_transform(processed_frame)

    np.testing.assert_allclose(scaled["tenure"].mean(), 0.0, atol=1e-9)
    np.testing.assert_allclose(scaled["tenure"].std(ddof=0), 1.0)
    pd.testing.assert_series_equal(raw["tenure"], processed_frame["tenure"])
    pd.testing.assert_series_equal(scaled["SeniorCitizen"], processed_frame["SeniorCitizen"])


def test_pipeline_round_trips_through_skops_trusting_only_churnguard_types(
    feature_config, processed_frame, other_processed_frame, tmp_path: Path
):
    pipeline = build_feature_pipeline(feature_config).fit(processed_frame)
    path = tmp_path / "features.skops"

    sio.dump(pipeline, path)
    untrusted = sio.get_untrusted_types(file=path)
    restored = sio.load(path, trusted=untrusted)

    assert untrusted
    assert all(name.startswith("churnguard.features.") for name in untrusted)
    pd.testing.assert_frame_equal(
        restored.transform(other_processed_frame), pipeline.transform(other_processed_frame)
    )


def test_pipeline_round_trips_through_pickle(feature_config, processed_frame):
    pipeline = build_feature_pipeline(feature_config).fit(processed_frame)

    restored = pickle.loads(pickle.dumps(pipeline))  # noqa: S301 - our own object

    pd.testing.assert_frame_equal(
        restored.transform(processed_frame), pipeline.transform(processed_frame)
    )


def test_engineered_feature_frame_carries_id_and_target_around_the_features(
    feature_config, processed_frame
):
    frame = engineered_feature_frame(processed_frame, feature_config)
    expected = build_feature_pipeline(feature_config).fit_transform(processed_frame)

    assert frame.columns[0] == ID_COLUMN
    assert frame.columns[-1] == TARGET_COLUMN
    pd.testing.assert_frame_equal(frame.iloc[:, 1:-1], expected)
    pd.testing.assert_series_equal(frame[TARGET_COLUMN], processed_frame[TARGET_COLUMN])


def test_engineered_feature_frame_without_id_or_target_holds_only_features(
    feature_config, processed_frame
):
    frame = engineered_feature_frame(processed_frame[list(FEATURE_COLUMNS)], feature_config)

    assert frame.shape == (len(processed_frame), _N_OUTPUT)
    assert ID_COLUMN not in frame.columns
    assert TARGET_COLUMN not in frame.columns


def test_excluded_features_never_reach_the_model(processed_frame):
    pipeline = build_feature_pipeline(FeatureConfig(exclude=("gender",)))
    names = pipeline.fit(processed_frame).get_feature_names_out().tolist()
    assert not [name for name in names if name.startswith("gender")]
    swapped = processed_frame.assign(
        gender=processed_frame["gender"].map({"Male": "Female", "Female": "Male"})
    )
    pd.testing.assert_frame_equal(pipeline.transform(processed_frame), pipeline.transform(swapped))


def test_exclude_rejects_an_unknown_feature():
    with pytest.raises(ValueError, match=r"features\.exclude names unknown"):
        FeatureConfig(exclude=("shoe_size",))
