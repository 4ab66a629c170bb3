"""``churnguard monitor``: drift, model quality, the HTML report and the retraining trigger."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from churnguard.cli.context import app_state
from churnguard.logs import stage

if TYPE_CHECKING:
    from types import ModuleType

    from churnguard.jobs.monitoring import MonitorInputs

#: ``monitor check`` exit code when drift or quality crossed a threshold.
ALARM_EXIT_CODE = 3

monitor_app = typer.Typer(
    help="Watch the served model: data and prediction drift, quality from delayed labels.",
    no_args_is_help=True,
)

StoreOption = Annotated[
    str | None,
    typer.Option("--store-url", help="Prediction store (default: serving.store_url)."),
]
ReferenceOption = Annotated[
    Path | None,
    typer.Option(
        "--reference",
        help="drift_reference.json to compare with (default: the served model's, serving.model_uri).",
    ),
]
WindowOption = Annotated[
    int | None,
    typer.Option("--window", min=1, help="Last N predictions (default: monitoring.drift_window)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _jobs() -> ModuleType:
    # Imported on use: pandas, scipy and SQLAlchemy stay out of `churnguard --help`.
    from churnguard.jobs import monitoring

    return monitoring


def _inputs(store_url: str | None, reference: Path | None, window: int | None) -> MonitorInputs:
    inputs: MonitorInputs = _jobs().MonitorInputs(store_url, reference, window)
    return inputs


def _console() -> Console:
    # Tables are wide: outside a terminal (pipes, CI logs) do not squeeze them into 80 columns.
    console = Console()
    return console if console.is_terminal else Console(width=120)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


@monitor_app.command()
def drift(
    ctx: typer.Context,
    store_url: StoreOption = None,
    reference: ReferenceOption = None,
    window: WindowOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare the last logged predictions with the training reference (PSI, KS, chi-square)."""
    with stage("monitor-drift"):
        assessment, source = _jobs().run_assess(
            app_state(ctx).config(), _inputs(store_url, reference, window)
        )
    report = assessment.drift
    if report is None:
        typer.echo("no drift reference for the served model: pass --reference drift_reference.json")
        raise typer.Exit(code=2)
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    table = Table("feature", "kind", "PSI", "statistic", "p-value", "effect", "drifted")
    for item in [*report.features, *([report.prediction] if report.prediction else [])]:
        table.add_row(
            item.feature,
            item.kind,
            f"{item.psi:.3f}",
            f"{item.statistic:.3f}",
            f"{item.p_value:.2g}",
            f"{item.effect:.3f}",
            "[red]yes[/red]" if item.drifted else "no",
        )
    _console().print(table)
    typer.echo(
        f"{report.status}: {len(report.drifted_features)} of {len(report.features)} features "
        f"drifted (share {report.drift_share:.0%}), prediction drift "
        f"{'yes' if report.prediction_drift else 'no'}; {report.n_rows} predictions from {source}"
    )


@monitor_app.command()
def performance(
    ctx: typer.Context, store_url: StoreOption = None, as_json: JsonOption = False
) -> None:
    """Model quality per version from the labels sent to /feedback (ROC-AUC, F1, calibration)."""
    with stage("monitor-performance"):
        assessment, source = _jobs().run_assess(
            app_state(ctx).config(), _inputs(store_url, None, None)
        )
    if as_json:
        typer.echo("[" + ",".join(q.model_dump_json() for q in assessment.quality) + "]")
        return
    table = Table("version", "status", "labels", "ROC-AUC", "precision", "recall", "F1", "ECE")
    for q in assessment.quality:
        table.add_row(
            q.model_version,
            q.status,
            str(q.n),
            _fmt(q.roc_auc),
            _fmt(q.precision),
            _fmt(q.recall),
            _fmt(q.f1),
            _fmt(q.ece),
        )
    _console().print(table)
    typer.echo(f"{assessment.labeled} labeled predictions from {source}")


@monitor_app.command()
def report(
    ctx: typer.Context,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="HTML file (a .json twin is written beside it).")
    ] = Path("reports/monitoring/report.html"),
    store_url: StoreOption = None,
    reference: ReferenceOption = None,
    window: WindowOption = None,
) -> None:
    """Write one self-contained HTML report with plots, and its JSON twin."""
    with stage("monitor-report"):
        result = _jobs().run_report(
            app_state(ctx).config(), _inputs(store_url, reference, window), output
        )
    verdict = f"{len(result.alarms)} alarm(s)" if result.alarms else "no alarm"
    typer.echo(
        f"wrote {output} and {output.with_suffix('.json')} ({verdict}); open it in a browser"
    )


@monitor_app.command()
def check(
    ctx: typer.Context,
    store_url: StoreOption = None,
    reference: ReferenceOption = None,
    window: WindowOption = None,
    retrain: Annotated[
        bool | None,
        typer.Option(
            "--retrain/--no-retrain",
            help="On an alarm, train a new challenger (default: monitoring.retrain_on_trigger).",
        ),
    ] = None,
) -> None:
    """Exit 3 when drift or quality crossed a threshold; optionally retrain a challenger.

    Retraining runs ingest → validate → preprocess → build-features → train and registers the
    new model as challenger; promotion stays with `churnguard promote` and its quality gate.
    """
    config = app_state(ctx).config()
    jobs = _jobs()
    with stage("monitor-check"):
        assessment, source = jobs.run_assess(config, _inputs(store_url, reference, window))
    from churnguard.monitoring.report import alarms

    found = alarms(assessment.drift, assessment.quality, config.monitoring)
    if not found:
        typer.echo(
            f"ok: no drift or quality alarm on {len(assessment.window)} predictions ({source})"
        )
        return
    for alarm in found:
        typer.echo(f"ALARM {alarm}", err=True)
    if retrain if retrain is not None else config.monitoring.retrain_on_trigger:
        with stage("retrain"):
            version = jobs.run_retrain(config)
        typer.echo(
            f"retrained: version {version} registered as challenger; "
            "run `churnguard promote` to let the quality gate decide"
        )
    raise typer.Exit(code=ALARM_EXIT_CODE)


def register(app: typer.Typer) -> None:
    """Add ``monitor`` to ``app``."""
    app.add_typer(monitor_app, name="monitor")


__all__ = ["ALARM_EXIT_CODE", "register"]
