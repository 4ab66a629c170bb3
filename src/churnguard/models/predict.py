"""Scoring and explaining customer records with a loaded churnguard model.

:class:`ChurnScorer` is what serving wraps: churn probability, the decision at the model's own
threshold, a risk band, and per-field reasons. Reasons are exact contributions in log-odds of
the (uncalibrated) pipeline, aggregated from encoded columns back to the customer's fields; a
calibration step, when present, is monotone and does not change their order or sign.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from churnguard.data.schema import FEATURE_COLUMNS
from churnguard.features.lineage import encoded_sources
from churnguard.models.explain import contributions, unwrap_pipeline

RiskBand = Literal["low", "medium", "high"]


@dataclass(frozen=True)
class Reason:
    """One field's push on a customer's churn log-odds."""

    field: str
    value: Any
    contribution: float


class ChurnScorer:
    """Score and explain processed customer records with a fitted model and its threshold.

    Args:
        model: A fitted churnguard model (pipeline, possibly calibrated).
        threshold: Decision threshold; customers at or above it are predicted to churn.
    """

    def __init__(self, model: Any, threshold: float) -> None:
        if not 0.0 < threshold < 1.0:
            msg = f"threshold must be within (0, 1), got {threshold}"
            raise ValueError(msg)
        self.model = model
        self.threshold = threshold
        self._pipeline = unwrap_pipeline(model)
        self._sources = encoded_sources(self._pipeline.named_steps["features"])

    def churn_probability(self, frame: pd.DataFrame) -> np.ndarray:
        """Churn probability per row of ``frame`` (processed feature columns)."""
        return np.asarray(
            self.model.predict_proba(frame[list(FEATURE_COLUMNS)])[:, 1], dtype=np.float64
        )

    def risk_band(self, probability: np.ndarray) -> np.ndarray:
        """``high`` at or above the threshold, ``medium`` above half of it, else ``low``."""
        bands = np.where(probability >= self.threshold, "high", "low").astype(object)
        bands[(probability < self.threshold) & (probability >= self.threshold / 2)] = "medium"
        return bands

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Probability, decision and risk band per row, in the order of ``frame``."""
        probability = self.churn_probability(frame)
        return pd.DataFrame(
            {
                "churn_probability": probability,
                "churn": probability >= self.threshold,
                "risk_band": self.risk_band(probability),
            },
            index=frame.index,
        )

    def field_contributions(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """Contributions per raw field (log-odds) and the base value, per row.

        Each encoded column's contribution goes to the field it encodes; an engineered feature
        built from several fields is shared equally among them. Rows sum to the log-odds of the
        uncalibrated pipeline minus the base value.
        """
        encoded, base = contributions(self._pipeline, frame[list(FEATURE_COLUMNS)])
        per_field = pd.DataFrame(0.0, index=frame.index, columns=list(FEATURE_COLUMNS))
        for column in encoded.columns:
            sources = self._sources[str(column)]
            share = encoded[column].to_numpy() / len(sources)
            for source in sources:
                per_field[source] += share
        return per_field, base

    def top_reasons(self, frame: pd.DataFrame, k: int = 3) -> list[list[Reason]]:
        """The ``k`` fields that push each customer's churn risk the most (by |contribution|)."""
        per_field, _ = self.field_contributions(frame)
        values = per_field.to_numpy()
        order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :k]
        fields = per_field.columns.to_numpy()
        return [
            [
                Reason(str(fields[j]), _plain(frame.iloc[i][fields[j]]), float(values[i, j]))
                for j in order[i]
            ]
            for i in range(len(frame))
        ]


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) else value


__all__ = ["ChurnScorer", "Reason", "RiskBand"]
