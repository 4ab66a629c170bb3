"""Evaluation figures: ROC, precision-recall, calibration, confusion matrix, profit, importances.

Every function returns a new :class:`matplotlib.figure.Figure` on its own Agg canvas. Nothing
touches pyplot's global state, so figures are thread-safe, never pop up a window and never leak.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import ArrayLike, NDArray
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from churnguard.io import atomic_path
from churnguard.models.evaluate import TARGET_NAMES
from churnguard.models.threshold import check_predictions

DPI = 110
_CHURN_COLOUR = "#c0392b"
_NEUTRAL_COLOUR = "#7f8c8d"
_MAIN_COLOUR = "#2c6fbb"


def _figure(width: float = 6.0, height: float = 5.0) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def roc_curve_figure(y_true: ArrayLike, proba: ArrayLike) -> Figure:
    """ROC curve with its AUC and the chance diagonal."""
    y, scores = check_predictions(y_true, proba)
    fpr, tpr, _ = roc_curve(y, scores)
    auc = float(roc_auc_score(y, scores))
    figure, axes = _figure()
    axes.plot(fpr, tpr, color=_MAIN_COLOUR, linewidth=2, label=f"model (AUC = {auc:.3f})")
    axes.plot([0, 1], [0, 1], linestyle="--", color=_NEUTRAL_COLOUR, label="chance (AUC = 0.5)")
    axes.set(
        title="ROC curve",
        xlabel="False positive rate (stayers flagged)",
        ylabel="True positive rate (churners caught)",
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    axes.legend(loc="lower right")
    axes.grid(alpha=0.3)
    return figure


def pr_curve_figure(y_true: ArrayLike, proba: ArrayLike) -> Figure:
    """Precision-recall curve with its average precision and the base-rate line."""
    y, scores = check_predictions(y_true, proba)
    precision, recall, _ = precision_recall_curve(y, scores)
    average_precision = float(average_precision_score(y, scores))
    base_rate = float(y.mean())
    figure, axes = _figure()
    axes.step(
        recall,
        precision,
        where="post",
        color=_MAIN_COLOUR,
        linewidth=2,
        label=f"model (AP = {average_precision:.3f})",
    )
    axes.axhline(
        base_rate, linestyle="--", color=_NEUTRAL_COLOUR, label=f"churn rate ({base_rate:.3f})"
    )
    axes.set(
        title="Precision-recall curve",
        xlabel="Recall (churners caught)",
        ylabel="Precision (flagged who churn)",
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    axes.legend(loc="upper right")
    axes.grid(alpha=0.3)
    return figure


def calibration_figure(y_true: ArrayLike, proba: ArrayLike, n_bins: int = 10) -> Figure:
    """Reliability diagram (observed churn rate per probability bin) over a score histogram."""
    if n_bins < 2:
        raise ValueError(f"n_bins must be at least 2, got {n_bins}")
    y, scores = check_predictions(y_true, proba)
    observed, predicted = calibration_curve(y, scores, n_bins=n_bins, strategy="uniform")
    brier = float(brier_score_loss(y, scores))
    figure = Figure(figsize=(6.0, 6.5), layout="constrained")
    FigureCanvasAgg(figure)
    curve_axes, histogram_axes = figure.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    curve_axes.plot([0, 1], [0, 1], linestyle="--", color=_NEUTRAL_COLOUR, label="perfect")
    curve_axes.plot(
        predicted,
        observed,
        marker="o",
        color=_MAIN_COLOUR,
        linewidth=2,
        label=f"model (Brier = {brier:.3f})",
    )
    curve_axes.set(title="Calibration", ylabel="Observed churn rate", xlim=(0, 1), ylim=(0, 1.01))
    curve_axes.legend(loc="upper left")
    curve_axes.grid(alpha=0.3)
    histogram_axes.hist(scores, bins=n_bins, range=(0, 1), color=_MAIN_COLOUR, alpha=0.7)
    histogram_axes.set(xlabel="Predicted churn probability", ylabel="Customers")
    return figure


def confusion_matrix_figure(y_true: ArrayLike, proba: ArrayLike, threshold: float) -> Figure:
    """Confusion matrix at ``threshold``, with counts and row shares in each cell."""
    y, scores = check_predictions(y_true, proba, require_both_classes=False)
    matrix: NDArray[np.int64] = confusion_matrix(
        y, (scores >= threshold).astype(int), labels=[0, 1]
    )
    row_totals = np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    shares = matrix / row_totals
    figure, axes = _figure(5.5, 4.8)
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (row, column), count in np.ndenumerate(matrix):
        colour = "white" if shares[row, column] > 0.5 else "black"
        axes.text(
            column,
            row,
            f"{count:,}\n({shares[row, column]:.1%})",
            ha="center",
            va="center",
            color=colour,
            fontsize=12,
        )
    ticks = [0, 1]
    axes.set(
        title=f"Confusion matrix (threshold = {threshold:.2f})",
        xlabel="Predicted",
        ylabel="Observed",
        xticks=ticks,
        yticks=ticks,
        xticklabels=list(TARGET_NAMES),
        yticklabels=list(TARGET_NAMES),
    )
    figure.colorbar(image, ax=axes, label="Share of observed class")
    return figure


def profit_curve_figure(curve: pd.DataFrame, chosen_threshold: float) -> Figure:
    """Expected profit and share of customers targeted against the threshold.

    Args:
        curve: Output of :func:`churnguard.models.evaluate.profit_curve`.
        chosen_threshold: The threshold in use, drawn as a vertical line.
    """
    missing = {"threshold", "targeted_share", "expected_profit"} - set(curve.columns)
    if missing:
        raise ValueError(f"profit curve lacks column(s) {', '.join(sorted(missing))}")
    thresholds = curve["threshold"].to_numpy(dtype=np.float64)
    profit = curve["expected_profit"].to_numpy(dtype=np.float64)
    figure, axes = _figure(7.0, 4.8)
    axes.plot(thresholds, profit, color=_MAIN_COLOUR, linewidth=2, label="expected profit")
    axes.axhline(0, color=_NEUTRAL_COLOUR, linewidth=0.8)
    best = int(np.argmax(profit))
    axes.plot(
        thresholds[best],
        profit[best],
        "o",
        color=_MAIN_COLOUR,
        label=f"best: {profit[best]:,.0f} at {thresholds[best]:.2f}",
    )
    axes.axvline(
        chosen_threshold,
        linestyle="--",
        color=_CHURN_COLOUR,
        label=f"chosen threshold ({chosen_threshold:.2f})",
    )
    axes.set(title="Expected retention profit", xlabel="Threshold", ylabel="Expected profit")
    share_axes = axes.twinx()
    share_axes.plot(
        thresholds, curve["targeted_share"], color=_NEUTRAL_COLOUR, linestyle=":", label="targeted"
    )
    share_axes.set(ylabel="Share of customers targeted", ylim=(0, 1.01))
    handles, labels = axes.get_legend_handles_labels()
    share_handles, share_labels = share_axes.get_legend_handles_labels()
    axes.legend(handles + share_handles, labels + share_labels, loc="upper right")
    axes.grid(alpha=0.3)
    return figure


def _horizontal_bars(
    names: Sequence[str], values: ArrayLike, top: int, title: str, xlabel: str
) -> Figure:
    amounts = np.asarray(values, dtype=np.float64)
    if amounts.ndim != 1 or len(names) != amounts.size:
        raise ValueError(f"got {len(names)} names for {amounts.size} values")
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    # Largest magnitude first, ties by name; reversed so the largest bar sits on top.
    order = sorted(range(amounts.size), key=lambda i: (-abs(amounts[i]), names[i]))[:top][::-1]
    shown = amounts[order]
    figure, axes = _figure(7.0, max(2.5, 0.32 * len(order) + 1.2))
    colours = [_CHURN_COLOUR if value < 0 else _MAIN_COLOUR for value in shown]
    axes.barh([names[i] for i in order], shown, color=colours)
    axes.set(title=title, xlabel=xlabel)
    axes.grid(axis="x", alpha=0.3)
    return figure


def feature_importance_figure(names: Sequence[str], values: ArrayLike, top: int = 20) -> Figure:
    """Horizontal bars of the ``top`` features by absolute importance (negative ones in red)."""
    return _horizontal_bars(
        names, values, top, f"Feature importance (top {min(top, len(names))})", "Importance"
    )


def shap_summary_figure(
    names: Sequence[str], mean_abs_contributions: ArrayLike, top: int = 20
) -> Figure:
    """Horizontal bars of the ``top`` features by mean absolute contribution (SHAP value)."""
    return _horizontal_bars(
        names,
        mean_abs_contributions,
        top,
        f"Mean |SHAP value| (top {min(top, len(names))})",
        "Mean absolute contribution (SHAP value)",
    )


def save_figure(figure: Figure, path: Path) -> Path:
    """Write ``figure`` as a PNG (``DPI`` dots per inch) to ``path`` atomically.

    Raises:
        ValueError: ``path`` does not end in ``.png``.
    """
    if path.suffix.lower() != ".png":
        raise ValueError(f"figures are written as PNG: {path} must end in .png")
    with atomic_path(path) as tmp:
        # The temporary name ends in .tmp, so the format is given, not inferred.
        figure.savefig(tmp, format="png", dpi=DPI)
    return path


__all__ = [
    "DPI",
    "calibration_figure",
    "confusion_matrix_figure",
    "feature_importance_figure",
    "pr_curve_figure",
    "profit_curve_figure",
    "roc_curve_figure",
    "save_figure",
    "shap_summary_figure",
]
