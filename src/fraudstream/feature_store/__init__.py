"""The feature store: feature declarations and their offline (vectorised) computation.

The declaration (:mod:`~fraudstream.feature_store.definition`, in the language of
:mod:`~fraudstream.feature_store.vocabulary`) is the single source of truth; the
offline computation (:mod:`~fraudstream.feature_store.offline`) and the online Redis store read it.
"""

from fraudstream.feature_store.definition import (
    DEFAULT_LABEL_DELAY_DAYS,
    FEATURE_DEFINITION,
    FEATURE_NAMES,
    definition_version,
    feature_names,
    lookback_days,
)
from fraudstream.feature_store.offline import compute_features
from fraudstream.feature_store.vocabulary import Aggregation, Entity, Feature

__all__ = [
    "DEFAULT_LABEL_DELAY_DAYS",
    "FEATURE_DEFINITION",
    "FEATURE_NAMES",
    "Aggregation",
    "Entity",
    "Feature",
    "compute_features",
    "definition_version",
    "feature_names",
    "lookback_days",
]
