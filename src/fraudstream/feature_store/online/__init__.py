"""The online feature store: Redis state computed from the same feature declaration."""
