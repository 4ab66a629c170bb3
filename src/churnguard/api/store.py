"""The serving store as the API knows it: feedback labels, joined later to logged predictions.

The tables and the store live in :mod:`churnguard.monitoring.store` (labels and predictions
share one database); this module keeps the names the API has always imported.
"""

from __future__ import annotations

from churnguard.monitoring.store import Label, StoreUnavailableError, feedback_table
from churnguard.monitoring.store import MonitoringStore as FeedbackStore

__all__ = ["FeedbackStore", "Label", "StoreUnavailableError", "feedback_table"]
