"""Tests of the evaluation figures: they render, carry their numbers and save as PNG files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from churnguard.models.config import ThresholdConfig
from churnguard.models.evaluate import profit_curve
from churnguard.models.plots import (
    calibration_figure,
    confusion_matrix_figure,
    feature_importance_figure,
    pr_curve_figure,
    profit_curve_figure,
    roc_curve_figure,
    save_figure,
    shap_summary_figure,
)

pytestmark = pytest.mark.unit

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FEATURES = [f"feature_{i:02d}" for i in range(30)]


@pytest.fixture(scope="module")
def labels_and_scores() -> tuple[np.ndarray, np.ndarray]:
    """Calibrated churn scores: labels drawn from the probabilities themselves."""
    rng = np.random.default_rng(5)
    proba = rng.beta(1.5, 4.0, 600)
    return (rng.random(600) < proba).astype(np.int64), proba


def _figures(y: np.ndarray, proba: np.ndarray) -> dict[str, Callable[[], Figure]]:
    importances = np.linspace(1.0, 0.03, len(FEATURES))
    return {
        "roc": lambda: roc_curve_figure(y, proba),
        "pr": lambda: pr_curve_figure(y, proba),
        "calibration": lambda: calibration_figure(y, proba, n_bins=10),
        "confusion": lambda: confusion_matrix_figure(y, proba, 0.35),
        "profit": lambda: profit_curve_figure(
            profit_curve(y, proba, ThresholdConfig()), chosen_threshold=0.2
        ),
        "importance": lambda: feature_importance_figure(
            FEATURES, importances * np.tile([1, -1], 15)
        ),
        "shap": lambda: shap_summary_figure(FEATURES, importances),
    }


@pytest.mark.parametrize(
    "name", ["roc", "pr", "calibration", "confusion", "profit", "importance", "shap"]
)
def test_every_figure_saves_as_a_non_trivial_png(
    name: str, labels_and_scores: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    figure = _figures(*labels_and_scores)[name]()
    path = tmp_path / "figures" / f"{name}.png"

    assert save_figure(figure, path) == path

    assert isinstance(figure.canvas, FigureCanvasAgg)
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    assert path.stat().st_size > 5_000
    assert [p.name for p in path.parent.iterdir()] == [f"{name}.png"]  # no temp file left


def test_roc_figure_reports_the_auc_in_its_legend() -> None:
    figure = roc_curve_figure([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])

    legend = figure.axes[0].get_legend()
    assert legend is not None
    assert legend.get_texts()[0].get_text() == "model (AUC = 0.750)"


def test_pr_figure_draws_the_churn_rate_baseline() -> None:
    figure = pr_curve_figure([0, 0, 0, 1], [0.1, 0.6, 0.4, 0.9])

    legend = figure.axes[0].get_legend()
    assert legend is not None
    assert "churn rate (0.250)" in [text.get_text() for text in legend.get_texts()]


def test_confusion_matrix_figure_writes_the_counts_in_the_cells() -> None:
    # At 0.5: TN=1, FP=1, FN=1, TP=2.
    figure = confusion_matrix_figure([0, 0, 1, 1, 1], [0.1, 0.6, 0.4, 0.9, 0.8], 0.5)

    cells = [text.get_text().split("\n")[0] for text in figure.axes[0].texts]
    assert cells == ["1", "1", "1", "2"]
    assert "0.50" in figure.axes[0].get_title()


def test_importance_figure_shows_the_top_features_largest_on_top() -> None:
    values = np.arange(1.0, len(FEATURES) + 1)  # feature_29 is the largest

    figure = feature_importance_figure(FEATURES, values, top=5)

    labels = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert labels == ["feature_25", "feature_26", "feature_27", "feature_28", "feature_29"]


def test_importance_figure_ranks_negative_coefficients_by_magnitude() -> None:
    figure = feature_importance_figure(["small", "large_negative", "medium"], [0.1, -2.0, 0.5])

    labels = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert labels[-1] == "large_negative"


def test_importance_figure_rejects_names_and_values_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="3 names for 2 values"):
        shap_summary_figure(["a", "b", "c"], [0.1, 0.2])


def test_save_figure_refuses_a_path_that_is_not_png(tmp_path: Path) -> None:
    figure = roc_curve_figure([0, 1], [0.2, 0.8])

    with pytest.raises(ValueError, match=r"\.png"):
        save_figure(figure, tmp_path / "roc.jpg")

    assert not (tmp_path / "roc.jpg").exists()


def test_save_figure_keeps_the_old_file_when_rendering_fails(tmp_path: Path) -> None:
    path = tmp_path / "roc.png"
    path.write_bytes(b"previous")
    broken = Figure()
    FigureCanvasAgg(broken)
    broken.add_subplot().text(0.5, 0.5, "$\\unknowncommand$")  # mathtext fails at draw time

    with pytest.raises(ValueError, match="unknowncommand"):
        save_figure(broken, path)

    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["roc.png"]


def test_profit_figure_rejects_a_frame_without_profit_columns() -> None:
    curve = profit_curve([0, 1], [0.2, 0.8], ThresholdConfig()).drop(columns="expected_profit")

    with pytest.raises(ValueError, match="expected_profit"):
        profit_curve_figure(curve, 0.5)
