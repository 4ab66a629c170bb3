"""How a fraud model is judged: ranking quality, and what an investigation team experiences.

* ROC AUC and average precision over the test transactions.
* **Card precision top-k** (the handbook's CP@k): each test day, rank the cards by their highest
  score of the day, take the top ``k`` (the daily alert budget), count the truly compromised
  ones, divide by ``k``; cards found compromised on an earlier test day leave the ranking; the
  mean over days.
* At the decision threshold: precision and recall of the alerts, and cards alerted per day.
* The Brier score of the probabilities.

Every metric is reported for the whole test window and per day.
"""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from fraudstream.transactions.contract import CUSTOMER_ID, TX_DATETIME, TX_FRAUD

FloatArray = np.ndarray


class DayMetrics(BaseModel):
    """One test day."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    day: str
    transactions: int
    frauds: int
    roc_auc: float | None
    average_precision: float | None
    card_precision_top_k: float
    cards_alerted: int
    precision_at_threshold: float
    recall_at_threshold: float


class Evaluation(BaseModel):
    """A model's scores on a test window, overall and per day."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    k: Annotated[int, Field(ge=1)]
    threshold: float
    transactions: int
    frauds: int
    roc_auc: float
    average_precision: float
    card_precision_top_k: float
    precision_at_threshold: float
    recall_at_threshold: float
    cards_alerted_per_day: float
    brier: float
    days: list[DayMetrics]

    def headline(self) -> dict[str, float]:
        """The numbers logged as run metrics (names without spaces)."""
        return {
            "roc_auc": self.roc_auc,
            "average_precision": self.average_precision,
            "card_precision_top_k": self.card_precision_top_k,
            "precision_at_threshold": self.precision_at_threshold,
            "recall_at_threshold": self.recall_at_threshold,
            "cards_alerted_per_day": self.cards_alerted_per_day,
            "brier": self.brier,
        }


def _days(frame: pd.DataFrame) -> pd.Series:
    days: pd.Series = frame[TX_DATETIME].dt.normalize()
    return days


def card_precision_per_day(
    frame: pd.DataFrame, scores: FloatArray, k: int
) -> tuple[list[float], list[str]]:
    """CP@k of each test day (in day order), with detected cards dropped from later days.

    Args:
        frame: Test transactions with ``TX_DATETIME``, ``CUSTOMER_ID`` and ``TX_FRAUD``.
        scores: The model's score of each row.
        k: The daily budget of cards an investigation team can check.
    """
    scored = pd.DataFrame(
        {
            "day": _days(frame).to_numpy(),
            "card": frame[CUSTOMER_ID].to_numpy(),
            "score": scores,
            "fraud": frame[TX_FRAUD].to_numpy(),
        }
    )
    detected: set[int] = set()
    precisions: list[float] = []
    labels: list[str] = []
    for day, rows in scored.groupby("day", sort=True):
        cards = rows[~rows["card"].isin(detected)].groupby("card")[["score", "fraud"]].max()
        top = cards.sort_values("score", ascending=False, kind="stable").head(k)
        found = top.index[top["fraud"] == 1]
        detected.update(int(card) for card in found)
        precisions.append(len(found) / k)
        labels.append(str(day)[:10])  # YYYY-MM-DD
    return precisions, labels


def card_precision_top_k(frame: pd.DataFrame, scores: FloatArray, k: int) -> float:
    """The handbook's CP@k: the mean over test days of :func:`card_precision_per_day`."""
    precisions, _ = card_precision_per_day(frame, scores, k)
    return float(np.mean(precisions)) if precisions else 0.0


def alert_threshold(frame: pd.DataFrame, scores: FloatArray, k: int) -> float:
    """The score above which about ``k`` cards a day are alerted on ``frame``'s days.

    Pools every day's per-card maximum score and takes the ``k * days``-th highest: a card is
    alerted on a day when its highest score that day reaches the threshold. Needs no labels.
    """
    if len(frame) == 0:
        msg = "cannot choose an alert threshold on an empty period"
        raise ValueError(msg)
    maxima = (
        pd.DataFrame(
            {"day": _days(frame).to_numpy(), "card": frame[CUSTOMER_ID].to_numpy(), "score": scores}
        )
        .groupby(["day", "card"])["score"]
        .max()
        .to_numpy()
    )
    days = _days(frame).nunique()
    rank = min(k * days, len(maxima))
    return float(np.sort(maxima)[::-1][rank - 1])


def _ranked(labels: pd.Series, scores: FloatArray, metric: str) -> float | None:
    if labels.nunique() < 2:
        return None
    function = roc_auc_score if metric == "roc_auc" else average_precision_score
    return float(function(labels, scores))


def _at_threshold(labels: np.ndarray, alerts: np.ndarray) -> tuple[float, float]:
    """Precision and recall of the alerts (0 when there is no alert, or no fraud)."""
    true_alerts = int((alerts & (labels == 1)).sum())
    precision = true_alerts / int(alerts.sum()) if alerts.any() else 0.0
    recall = true_alerts / int(labels.sum()) if labels.any() else 0.0
    return precision, recall


def _cards_alerted(frame: pd.DataFrame, scores: FloatArray, threshold: float) -> pd.Series:
    alerted = pd.DataFrame(
        {
            "day": _days(frame).to_numpy(),
            "card": frame[CUSTOMER_ID].to_numpy(),
            "alert": scores >= threshold,
        }
    )
    return alerted[alerted["alert"]].groupby("day")["card"].nunique()


def evaluate(frame: pd.DataFrame, scores: FloatArray, threshold: float, k: int) -> Evaluation:
    """Every metric of ``scores`` on the test ``frame``, overall and per day."""
    labels = frame[TX_FRAUD]
    alerts = scores >= threshold
    precision_at, recall_at = _at_threshold(labels.to_numpy(), alerts)
    precisions, day_names = card_precision_per_day(frame, scores, k)
    alerted_per_day = _cards_alerted(frame, scores, threshold)
    days = []
    day_of_row = _days(frame)
    for name, precision in zip(day_names, precisions, strict=True):
        rows = (day_of_row == pd.Timestamp(name)).to_numpy()
        day_labels = labels[rows]
        day_precision, day_recall = _at_threshold(day_labels.to_numpy(), alerts[rows])
        days.append(
            DayMetrics(
                day=name,
                transactions=int(rows.sum()),
                frauds=int(day_labels.sum()),
                roc_auc=_ranked(day_labels, scores[rows], "roc_auc"),
                average_precision=_ranked(day_labels, scores[rows], "average_precision"),
                card_precision_top_k=precision,
                cards_alerted=int(alerted_per_day.get(pd.Timestamp(name), 0)),
                precision_at_threshold=day_precision,
                recall_at_threshold=day_recall,
            )
        )
    overall_auc = _ranked(labels, scores, "roc_auc")
    overall_ap = _ranked(labels, scores, "average_precision")
    return Evaluation(
        k=k,
        threshold=threshold,
        transactions=len(frame),
        frauds=int(labels.sum()),
        roc_auc=math.nan if overall_auc is None else overall_auc,
        average_precision=math.nan if overall_ap is None else overall_ap,
        card_precision_top_k=float(np.mean(precisions)) if precisions else 0.0,
        precision_at_threshold=precision_at,
        recall_at_threshold=recall_at,
        cards_alerted_per_day=float(np.mean([d.cards_alerted for d in days])) if days else 0.0,
        brier=float(brier_score_loss(labels, scores)),
        days=days,
    )


__all__ = [
    "DayMetrics",
    "Evaluation",
    "alert_threshold",
    "card_precision_per_day",
    "card_precision_top_k",
    "evaluate",
]
