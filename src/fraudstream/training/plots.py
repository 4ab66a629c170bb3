"""The plots of a training run: precision-recall, CP@k per day, scores by fraud scenario."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve

from fraudstream.training.metrics import Evaluation
from fraudstream.transactions.contract import (
    SCENARIOS,
    TX_FRAUD,
    TX_FRAUD_SCENARIO,
)

_DPI = 110


def _save(figure: Figure, path: Path) -> Path:
    # Figure objects, not pyplot: no backend, no global state, nothing to close.
    figure.tight_layout()
    figure.savefig(path, dpi=_DPI)
    return path


def precision_recall_plot(
    test: pd.DataFrame, curves: dict[str, np.ndarray], thresholds: dict[str, float], path: Path
) -> Path:
    """Precision against recall of each model's scores, with its decision threshold marked."""
    figure = Figure(figsize=(6, 4.5))
    axes = figure.subplots()
    for name, scores in curves.items():
        precision, recall, cut = precision_recall_curve(test[TX_FRAUD], scores)
        axes.plot(recall, precision, label=name)
        at = min(int(np.searchsorted(cut, thresholds[name])), len(cut) - 1)
        axes.scatter([recall[at]], [precision[at]], marker="o")
    axes.set(xlabel="recall", ylabel="precision", title="Precision-recall on the test window")
    axes.legend()
    return _save(figure, path)


def card_precision_plot(evaluations: dict[str, Evaluation], path: Path) -> Path:
    """CP@k of each test day for each model."""
    figure = Figure(figsize=(7, 4))
    axes = figure.subplots()
    names = list(evaluations)
    width = 0.8 / max(len(names), 1)
    for index, name in enumerate(names):
        days = evaluations[name].days
        positions = np.arange(len(days)) + index * width
        axes.bar(positions, [d.card_precision_top_k for d in days], width=width, label=name)
        axes.set_xticks(np.arange(len(days)) + 0.4 - width / 2, [d.day[5:] for d in days])
    k = next(iter(evaluations.values())).k if evaluations else 0
    axes.set(ylabel=f"CP@{k}", title=f"Card precision top-{k} per test day")
    axes.legend()
    return _save(figure, path)


def score_distribution_plot(test: pd.DataFrame, scores: np.ndarray, path: Path) -> Path:
    """Histograms of the fraud probability by scenario (log counts)."""
    figure = Figure(figsize=(7, 4))
    axes = figure.subplots()
    bins = np.linspace(0.0, 1.0, 41).tolist()
    for code, name in SCENARIOS.items():
        chosen = (test[TX_FRAUD_SCENARIO] == code).to_numpy()
        if chosen.any():
            axes.hist(scores[chosen], bins=bins, histtype="step", label=f"{name} ({chosen.sum()})")
    axes.set(
        xlabel="fraud probability",
        ylabel="transactions",
        yscale="log",
        title="Scores by fraud scenario (test window)",
    )
    axes.legend(fontsize="small")
    return _save(figure, path)


__all__ = ["card_precision_plot", "precision_recall_plot", "score_distribution_plot"]
