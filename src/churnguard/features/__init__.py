"""Feature stage: engineered Telco features, the model's feature pipeline and the reference profile.

The pipeline from `build_feature_pipeline` sits in front of the estimator in the logged model, so
training and serving compute identical features; `build_reference_profile` records the training
feature distributions for drift detection.
"""

from churnguard.features.config import DEFAULT_TENURE_BINS, FeatureConfig, validate_tenure_bins
from churnguard.features.pipeline import (
    CONTINUOUS_FEATURES,
    FLAG_FEATURES,
    ONE_HOT_FEATURES,
    build_feature_pipeline,
    engineered_feature_frame,
    one_hot_feature_name,
)
from churnguard.features.profile import (
    CategoricalFeatureProfile,
    Histogram,
    NumericFeatureProfile,
    Quantiles,
    ReferenceProfile,
    build_reference_profile,
    profile_categorical,
    profile_numeric,
)
from churnguard.features.transformers import (
    ENGINEERED_CATEGORICAL_FEATURES,
    ENGINEERED_CONTINUOUS_FEATURES,
    ENGINEERED_FEATURES,
    ENGINEERED_FLAG_FEATURES,
    ENGINEERED_NUMERIC_FEATURES,
    TENURE_BUCKET,
    FeatureInputError,
    TelcoFeatureEngineer,
    check_feature_frame,
    tenure_bucket_labels,
)

__all__ = [
    "CONTINUOUS_FEATURES",
    "DEFAULT_TENURE_BINS",
    "ENGINEERED_CATEGORICAL_FEATURES",
    "ENGINEERED_CONTINUOUS_FEATURES",
    "ENGINEERED_FEATURES",
    "ENGINEERED_FLAG_FEATURES",
    "ENGINEERED_NUMERIC_FEATURES",
    "FLAG_FEATURES",
    "ONE_HOT_FEATURES",
    "TENURE_BUCKET",
    "CategoricalFeatureProfile",
    "FeatureConfig",
    "FeatureInputError",
    "Histogram",
    "NumericFeatureProfile",
    "Quantiles",
    "ReferenceProfile",
    "TelcoFeatureEngineer",
    "build_feature_pipeline",
    "build_reference_profile",
    "check_feature_frame",
    "engineered_feature_frame",
    "one_hot_feature_name",
    "profile_categorical",
    "profile_numeric",
    "tenure_bucket_labels",
    "validate_tenure_bins",
]
