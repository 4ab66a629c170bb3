"""The online feature store: Redis state computed from the same feature declaration."""

from fraudstream.feature_store.online.config import RedisConfig
from fraudstream.feature_store.online.enriched import STATUSES, Enriched, EnrichStatus
from fraudstream.feature_store.online.store import OnlineFeatureStore, StoreStats

__all__ = [
    "STATUSES",
    "EnrichStatus",
    "Enriched",
    "OnlineFeatureStore",
    "RedisConfig",
    "StoreStats",
]
