"""Tests of FeatureConfig validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from churnguard.features import DEFAULT_TENURE_BINS, FeatureConfig, validate_tenure_bins

pytestmark = pytest.mark.unit


def test_feature_config_defaults_are_the_documented_values():
    config = FeatureConfig()

    assert config.tenure_bins == DEFAULT_TENURE_BINS == (0, 6, 12, 24, 48, 72)
    assert config.profile_bins == 10
    assert config.scale_numeric is True


def test_feature_config_accepts_a_yaml_style_list_of_bins():
    assert FeatureConfig.model_validate({"tenure_bins": [0, 12, 24]}).tenure_bins == (0, 12, 24)


@pytest.mark.parametrize(
    ("bins", "message"),
    [
        ((0, 12, 6), "strictly increasing, but 6 follows 12"),
        ((0, 6, 6), "strictly increasing, but 6 follows 6"),
        ((6,), "at least 2 edges"),
        ((), "at least 2 edges"),
        ((-1, 6), "start at 0 or above"),
    ],
)
def test_feature_config_rejects_invalid_tenure_bins(bins, message):
    with pytest.raises(ValidationError, match=message):
        FeatureConfig(tenure_bins=bins)


@pytest.mark.parametrize("bins", [(0, 6.5), (0, True), (0, "6")])
def test_feature_config_rejects_tenure_bins_that_are_not_whole_months(bins):
    with pytest.raises(ValidationError, match="tenure_bins"):
        FeatureConfig(tenure_bins=bins)


@pytest.mark.parametrize("bins", [1, 101])
def test_feature_config_rejects_profile_bins_outside_2_to_100(bins):
    with pytest.raises(ValidationError, match="profile_bins"):
        FeatureConfig(profile_bins=bins)


def test_feature_config_rejects_unknown_keys():
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        FeatureConfig.model_validate({"tenure_buckets": [0, 6]})


def test_feature_config_is_frozen():
    config = FeatureConfig()

    with pytest.raises(ValidationError, match="frozen"):
        config.profile_bins = 20


def test_validate_tenure_bins_rejects_fractional_edges_with_an_example():
    with pytest.raises(ValueError, match=r"whole months .* e\.g\. \(0, 6, 12, 24, 48, 72\)"):
        validate_tenure_bins((0, 1.5))
