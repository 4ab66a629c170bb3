"""Scoring and explaining customer records with a loaded churnguard model.

:class:`ChurnScorer` is what serving wraps: churn probability, the decision at the model's own
threshold, a risk band, and per-field reasons. Reasons are exact contributions in log-odds of
the (uncalibrated) pipeline, aggregated from encoded columns back to the customer's fields; a
calibration step, when present, is monotone and does not change their order or sign.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from churnguard.data.schema import FEATURE_COLUMNS
from churnguard.features.lineage import encoded_sources
from churnguard.models.explain import unwrap_pipeline
from churnguard.models.fastpath import CompiledModel

RiskBand = Literal["low", "medium", "high"]


@dataclass(frozen=True)
class Reason:
    """One field's push on a customer's churn log-odds."""

    field: str
    value: Any
    contribution: float


class ChurnScorer:
    """Score and explain customer records with a fitted model and its threshold.

    Scoring runs on the model compiled to numpy (:class:`CompiledModel`): the same probabilities
    as the scikit-learn pipeline, without its per-call overhead.

    Args:
        model: A fitted churnguard model (pipeline, possibly calibrated).
        threshold: Decision threshold; customers at or above it are predicted to churn.
        background: Mean encoded training vector (model metadata ``linear_background``), the
            reference point of linear attributions; without it, the mean of the scored rows.
        threads: LightGBM threads for batches of 256 rows or more (0 = every core; a server
            handling concurrent requests does better with 1 per request).
    """

    def __init__(
        self,
        model: Any,
        threshold: float,
        background: Sequence[float] | None = None,
        threads: int = 0,
    ) -> None:
        if not 0.0 < threshold < 1.0:
            msg = f"threshold must be within (0, 1), got {threshold}"
            raise ValueError(msg)
        self.model = model
        self.threshold = threshold
        self.compiled = CompiledModel(model, background, threads)
        self._has_background = background is not None
        sources = encoded_sources(unwrap_pipeline(model).named_steps["features"])
        self.fields: tuple[str, ...] = FEATURE_COLUMNS
        # (encoded column → field) sharing matrix: contributions @ matrix = per-field values.
        self._to_fields = np.zeros((len(self.compiled.feature_names), len(FEATURE_COLUMNS)))
        position = {field: j for j, field in enumerate(FEATURE_COLUMNS)}
        for i, column in enumerate(self.compiled.feature_names):
            for field in sources[column]:
                self._to_fields[i, position[field]] = 1.0 / len(sources[column])

    def churn_probability(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        """Churn probability per row of ``frame`` (processed feature columns)."""
        return self.compiled.columns_probability({c: frame[c].to_numpy() for c in FEATURE_COLUMNS})

    def columns_probability(self, columns: Mapping[str, Any]) -> NDArray[np.float64]:
        """Churn probability per record of feature columns (lists or arrays, processed types)."""
        return self.compiled.columns_probability(columns)

    def record_probability(self, record: Mapping[str, Any]) -> float:
        """Churn probability of one record (processed types): the single-record fast path."""
        return float(self.compiled.probability(self.compiled.encode_record(record))[0])

    def risk_band(self, probability: NDArray[np.float64]) -> NDArray[np.object_]:
        """``high`` at or above the threshold, ``medium`` above half of it, else ``low``."""
        bands = np.where(probability >= self.threshold, "high", "low").astype(object)
        bands[(probability < self.threshold) & (probability >= self.threshold / 2)] = "medium"
        return bands

    def band(self, probability: float) -> RiskBand:
        """The risk band of one probability."""
        if probability >= self.threshold:
            return "high"
        return "medium" if probability >= self.threshold / 2 else "low"

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

    def _per_field(self, encoded: NDArray[np.float64]) -> tuple[NDArray[np.float64], Any]:
        background = None if self._has_background else encoded.mean(axis=0)
        values, base = self.compiled.contributions(encoded, background)
        return values @ self._to_fields, base

    def field_contributions(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, NDArray[np.float64]]:
        """Contributions per raw field (log-odds) and the base value, per row.

        Each encoded column's contribution goes to the field it encodes; an engineered feature
        built from several fields is shared equally among them. Rows sum to the log-odds of the
        uncalibrated pipeline minus the base value.
        """
        encoded = self.compiled.encode_frame(frame[list(FEATURE_COLUMNS)])
        values, base = self._per_field(encoded)
        return pd.DataFrame(values, index=frame.index, columns=list(FEATURE_COLUMNS)), base

    def record_contributions(self, record: Mapping[str, Any]) -> tuple[dict[str, float], float]:
        """Per-field contributions and the base value of one record (fast path)."""
        values, base = self._per_field(self.compiled.encode_record(record))
        return dict(zip(FEATURE_COLUMNS, values[0].tolist(), strict=True)), float(base[0])

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
