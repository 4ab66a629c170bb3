"""The monitoring report: one self-contained HTML file with plots, and its JSON twin.

:func:`build_report` turns an :class:`~churnguard.monitoring.monitor.Assessment` into a
:class:`MonitoringReport` (what the JSON holds, and what ``churnguard monitor check`` judges);
:func:`render_html` draws it: per-feature reference-vs-current histograms, PSI bars, the
churn-probability distribution and quality over time, embedded as PNG data URIs so the file
opens anywhere without a server or network.
"""

from __future__ import annotations

import base64
import html
import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict

from churnguard.errors import ChurnguardError
from churnguard.monitoring.config import MonitoringConfig
from churnguard.monitoring.drift import DriftReport, FeatureDrift
from churnguard.monitoring.monitor import Assessment
from churnguard.monitoring.quality import QualityMetrics, QualityPoint

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class ReportDependencyError(ChurnguardError):
    """Plotting needs matplotlib, which the serving-only install leaves out."""

    exit_code = 2


class MonitoringReport(BaseModel):
    """What the monitoring report says (the JSON twin of the HTML file).

    Attributes:
        generated_at: When it was built.
        source: Where the predictions came from (store URL without password).
        window_rows: Predictions in the drift window.
        window_start: Oldest prediction of the window.
        window_end: Newest prediction of the window.
        model_versions: Versions that made the window's predictions.
        drift: The window against the drift reference (None without a reference).
        quality: Quality per model version from delayed labels.
        quality_over_time: Rolling daily quality per version.
        labeled: Labeled predictions used for quality.
        alarms: What crossed a threshold (empty when healthy).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    generated_at: AwareDatetime
    source: str
    window_rows: int
    window_start: AwareDatetime | None
    window_end: AwareDatetime | None
    model_versions: list[str]
    drift: DriftReport | None
    quality: list[QualityMetrics]
    quality_over_time: list[QualityPoint]
    labeled: int
    alarms: list[str]


def alarms(
    drift: DriftReport | None, quality: list[QualityMetrics], config: MonitoringConfig
) -> list[str]:
    """The thresholds crossed: data drift, prediction drift, a ROC-AUC drop, calibration drift."""
    found: list[str] = []
    if drift is not None and drift.dataset_drift:
        found.append(
            f"data drift: {len(drift.drifted_features)} of {len(drift.features)} features drifted "
            f"({drift.drift_share:.0%} >= {config.drift_share_threshold:.0%}): "
            + ", ".join(drift.drifted_features)
        )
    if drift is not None and drift.prediction_drift and drift.prediction is not None:
        found.append(
            f"prediction drift: churn-probability PSI {drift.prediction.psi:.3f} >= "
            f"{config.prediction_psi_threshold}"
        )
    for item in quality:
        if item.roc_auc is not None and item.roc_auc < config.min_roc_auc:
            found.append(
                f"quality drop: model version {item.model_version} ROC-AUC {item.roc_auc:.3f} < "
                f"{config.min_roc_auc} on {item.n} labeled predictions"
            )
        if item.ece is not None and item.ece > config.max_calibration_error:
            found.append(
                f"calibration drift: model version {item.model_version} expected calibration "
                f"error {item.ece:.3f} > {config.max_calibration_error} (observed churn rate "
                f"{item.positive_rate:.3f} vs mean predicted {item.mean_probability:.3f}) on "
                f"{item.n} labeled predictions"
            )
    return found


def build_report(
    assessment: Assessment, config: MonitoringConfig, source: str, now: datetime | None = None
) -> MonitoringReport:
    """The report of one assessment (pure)."""
    window = assessment.window
    stamps = window["created_at"] if not window.empty else None
    return MonitoringReport(
        generated_at=now or datetime.now(UTC),
        source=source,
        window_rows=len(window),
        window_start=None if stamps is None else stamps.min().to_pydatetime(),
        window_end=None if stamps is None else stamps.max().to_pydatetime(),
        model_versions=sorted({str(v) for v in window.get("model_version", [])}),
        drift=assessment.drift,
        quality=assessment.quality,
        quality_over_time=assessment.quality_over_time,
        labeled=assessment.labeled,
        alarms=alarms(assessment.drift, assessment.quality, config),
    )


# -- HTML ------------------------------------------------------------------------------------
def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError as exc:  # pragma: no cover - the full install has it
        msg = "the HTML report needs matplotlib: install churnguard with the 'train' extra (make install)"
        raise ReportDependencyError(msg) from exc
    return pyplot


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    _pyplot().close(figure)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{{alt}}" src="data:image/png;base64,{data}">'


def _image(figure: Figure, alt: str) -> str:
    return _png(figure).replace("{alt}", html.escape(alt))


def _shares_axes(axes: Any, feature: FeatureDrift) -> None:
    positions = range(len(feature.bins))
    width = 0.4
    axes.bar([p - width / 2 for p in positions], feature.reference_shares, width, label="reference")
    axes.bar([p + width / 2 for p in positions], feature.current_shares, width, label="current")
    axes.set_xticks(list(positions), feature.bins, rotation=60, ha="right", fontsize=6)
    colour = "tab:red" if feature.drifted else "black"
    axes.set_title(f"{feature.feature}  PSI {feature.psi:.3f}", fontsize=8, color=colour)
    axes.tick_params(axis="y", labelsize=6)


def _feature_histograms(drift: DriftReport) -> str:
    plt = _pyplot()
    count = len(drift.features)
    columns = 4
    rows = max(1, -(-count // columns))
    figure, grid = plt.subplots(rows, columns, figsize=(12, 2.6 * rows), squeeze=False)
    for axes, feature in zip(grid.flat, drift.features, strict=False):
        _shares_axes(axes, feature)
    for axes in list(grid.flat)[count:]:
        axes.axis("off")
    grid.flat[0].legend(fontsize=7)
    figure.tight_layout()
    return _image(figure, "Reference and current share of every bin, per feature")


def _psi_bars(drift: DriftReport, config: MonitoringConfig) -> str:
    plt = _pyplot()
    ordered = sorted(drift.features, key=lambda f: f.psi)
    figure, axes = plt.subplots(figsize=(8, 0.3 * len(ordered) + 1))
    colours = ["tab:red" if f.drifted else "tab:blue" for f in ordered]
    axes.barh([f.feature for f in ordered], [f.psi for f in ordered], color=colours)
    axes.axvline(config.psi_threshold, color="black", linestyle="--", label="PSI threshold")
    axes.set_xlabel("population stability index (red: drifted)")
    axes.legend(fontsize=8)
    return _image(figure, "PSI per feature with the drift threshold")


def _probability(drift: DriftReport) -> str:
    plt = _pyplot()
    assert drift.prediction is not None  # noqa: S101 - callers check
    figure, axes = plt.subplots(figsize=(8, 3))
    _shares_axes(axes, drift.prediction)
    axes.legend(fontsize=8)
    return _image(figure, "Churn probability distribution, reference and current")


def _quality_plot(points: list[QualityPoint]) -> str:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 3))
    for version in dict.fromkeys(p.model_version for p in points):
        mine = [p for p in points if p.model_version == version and p.status == "ok"]
        for metric, style in (("roc_auc", "-o"), ("f1", "--s")):
            values = [
                (p.window_end, getattr(p, metric)) for p in mine if getattr(p, metric) is not None
            ]
            if values:
                axes.plot(*zip(*values, strict=True), style, label=f"v{version} {metric}")
    axes.set_ylim(0, 1)
    axes.set_ylabel("rolling quality")
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=8)
    figure.autofmt_xdate()
    return _image(figure, "Quality over time per model version")


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _drift_table(drift: DriftReport) -> str:
    rows = "".join(
        f"<tr class={'drift' if f.drifted else 'ok'}><td>{html.escape(f.feature)}</td><td>{f.kind}</td>"
        f"<td>{f.psi:.3f}</td><td>{f.statistic:.3f}</td><td>{f.p_value:.2g}</td>"
        f"<td>{f.effect:.3f}</td><td>{'yes' if f.drifted else 'no'}</td></tr>"
        for f in drift.features
    )
    head = "<tr><th>feature</th><th>kind</th><th>PSI</th><th>statistic</th><th>p-value</th><th>effect</th><th>drifted</th></tr>"
    return f"<table>{head}{rows}</table>"


def _quality_table(quality: list[QualityMetrics]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(q.model_version)}</td><td>{q.status}</td><td>{q.n}</td>"
        f"<td>{_fmt(q.roc_auc)}</td><td>{_fmt(q.pr_auc)}</td><td>{_fmt(q.precision)}</td>"
        f"<td>{_fmt(q.recall)}</td><td>{_fmt(q.f1)}</td><td>{_fmt(q.brier)}</td><td>{_fmt(q.ece)}</td></tr>"
        for q in quality
    )
    head = "<tr><th>version</th><th>status</th><th>labels</th><th>ROC-AUC</th><th>PR-AUC</th><th>precision</th><th>recall</th><th>F1</th><th>Brier</th><th>ECE</th></tr>"
    return f"<table>{head}{rows}</table>"


_STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;
text-align:right}td:first-child,th:first-child{text-align:left}tr.drift{background:#fde2e2}
.alarm{background:#fde2e2;border-left:4px solid #c00;padding:.5rem 1rem}.ok{color:#060}
img{max-width:100%}"""


def render_html(report: MonitoringReport, config: MonitoringConfig) -> str:
    """The report as one self-contained HTML document.

    Raises:
        ReportDependencyError: matplotlib is not installed.
    """
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<title>churnguard monitoring report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>churnguard monitoring report</h1>",
        f"<p>Generated {report.generated_at:%Y-%m-%d %H:%M:%S %Z} from {html.escape(report.source)}: "
        f"{report.window_rows} predictions ({_span(report)}), model versions "
        f"{', '.join(report.model_versions) or '-'}; {report.labeled} labeled.</p>",
    ]
    if report.alarms:
        items = "".join(f"<li>{html.escape(a)}</li>" for a in report.alarms)
        parts.append(f'<div class="alarm"><h2>Alarms</h2><ul>{items}</ul></div>')
    else:
        parts.append(
            '<p class="ok"><strong>No alarm:</strong> drift and quality within thresholds.</p>'
        )
    drift = report.drift
    parts.append("<h2>Data drift</h2>")
    if drift is None:
        parts.append("<p>No drift reference for this model: drift cannot be judged.</p>")
    else:
        parts.append(
            f"<p>Status <strong>{drift.status}</strong>: {len(drift.drifted_features)} of "
            f"{len(drift.features)} features drifted (share {drift.drift_share:.0%}, threshold "
            f"{config.drift_share_threshold:.0%}); reference of {drift.reference_rows} rows.</p>"
        )
        if drift.features:
            parts += [
                _psi_bars(drift, config),
                _drift_table(drift),
                "<h3>Reference vs current</h3>",
            ]
            parts.append(_feature_histograms(drift))
        parts.append("<h2>Prediction drift</h2>")
        if drift.prediction is not None:
            parts.append(
                f"<p>Churn-probability PSI {drift.prediction.psi:.3f} (threshold "
                f"{config.prediction_psi_threshold}); KS {drift.prediction.statistic:.3f}.</p>"
            )
            parts.append(_probability(drift))
        else:
            parts.append("<p>The reference has no prediction distribution.</p>")
    parts.append("<h2>Model quality from delayed labels</h2>")
    if report.quality:
        parts.append(_quality_table(report.quality))
    else:
        parts.append(
            "<p>No labeled predictions yet (send labels to <code>POST /feedback</code>).</p>"
        )
    if any(p.status == "ok" for p in report.quality_over_time):
        parts.append(_quality_plot(report.quality_over_time))
    parts.append("</body></html>")
    return "\n".join(parts)


def _span(report: MonitoringReport) -> str:
    if report.window_start is None or report.window_end is None:
        return "empty window"
    return f"{report.window_start:%Y-%m-%d %H:%M} to {report.window_end:%Y-%m-%d %H:%M} UTC"


__all__ = [
    "MonitoringReport",
    "ReportDependencyError",
    "alarms",
    "build_report",
    "render_html",
]
