"""CLI commands of the model stages: tune, train, evaluate, promote, rollback, models list."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from churnguard.cli.context import app_state
from churnguard.logs import stage

if TYPE_CHECKING:
    from types import ModuleType


def _jobs() -> ModuleType:
    """The training jobs, imported on use.

    MLflow, Optuna and LightGBM take seconds to import; other commands and ``--help`` skip that.
    """
    from churnguard.jobs import training

    return training


models_app = typer.Typer(help="Inspect the registered model versions.", no_args_is_help=True)


def tune(
    ctx: typer.Context,
    trials: Annotated[
        int | None,
        typer.Option("--trials", min=1, help="Trials for this worker (default: tuning.n_trials)."),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage", help="Optuna storage URL; a PostgreSQL URL lets workers share a study."
        ),
    ] = None,
    study: Annotated[
        str | None,
        typer.Option("--study", help="Study name (workers sharing a study use the same name)."),
    ] = None,
) -> None:
    """Search hyperparameters with Optuna (TPE, pruned CV on the train split only).

    Trials are nested MLflow runs; the best params go to models/best_params.json for `train`.
    """
    with stage("tune"):
        result = _jobs().run_tune(app_state(ctx).config(), trials, storage, study)
    typer.echo(
        f"best CV ROC-AUC {result.best_value:.4f} after {result.n_trials} trials "
        f"({result.n_pruned} pruned) in study '{result.study_name}'"
    )


def train(ctx: typer.Context) -> None:
    """Train the configured model, log it to MLflow and register it as the challenger."""
    with stage("train"):
        result = _jobs().run_train(app_state(ctx).config())
    auc = result.metrics.get("test_roc_auc", float("nan"))
    typer.echo(
        f"trained {result.estimator} (calibration {result.calibration}, threshold {result.threshold:.2f}): "
        f"test ROC-AUC {auc:.4f}; registered version {result.registered_version} as challenger"
    )


def evaluate(
    ctx: typer.Context,
    model_uri: Annotated[
        str | None, typer.Option("--model-uri", help="Model to evaluate (default: the challenger).")
    ] = None,
) -> None:
    """Evaluate a model on the test split: metrics, slices, profit curve and plots in reports/."""
    with stage("evaluate"):
        report = _jobs().run_evaluate(app_state(ctx).config(), model_uri)
    shown = ", ".join(f"{k}={v:.4f}" for k, v in report.metrics.items())
    typer.echo(f"test metrics at threshold {report.threshold:.2f}: {shown}")


def promote(ctx: typer.Context) -> None:
    """Promote the challenger to champion if it passes the quality gate (always recorded)."""
    with stage("promote"):
        decision = _jobs().run_promote(app_state(ctx).config())
    verdict = "PROMOTED" if decision.promoted else "REFUSED"
    typer.echo(f"{verdict}: {decision.reason}")


def rollback(
    ctx: typer.Context,
    service_url: Annotated[
        str | None,
        typer.Option(
            "--service-url",
            help="Also reload this running service, without a restart (key: CHURNGUARD_SERVING_API_KEY).",
        ),
    ] = None,
) -> None:
    """Put the previous champion back (recorded in the audit history); optionally hot-reload."""
    from churnguard.cli.experiment import service_target
    from churnguard.jobs.experiment import reload_service

    target = service_target(service_url)
    with stage("rollback"):
        entry = _jobs().run_rollback(app_state(ctx).config())
    typer.echo(
        f"rolled back: version {entry.version} is champion again (was {entry.previous_champion})"
    )
    if target is not None:
        answer = reload_service(target)
        typer.echo(f"service reloaded: serving version {answer.get('version')} (no restart)")


@models_app.command("list")
def list_models(ctx: typer.Context) -> None:
    """List registered versions with their aliases, test ROC-AUC and gate decision."""
    versions = _jobs().run_list(app_state(ctx).config())
    table = Table("version", "aliases", "test ROC-AUC", "gate", "run id", "created")
    for item in versions:
        auc = "" if item.roc_auc is None else f"{item.roc_auc:.4f}"
        table.add_row(
            str(item.version),
            ", ".join(item.aliases),
            auc,
            item.gate_decision or "",
            item.run_id,
            str(item.created_at),
        )
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add the model commands to ``app``."""
    app.command()(tune)
    app.command()(train)
    app.command()(evaluate)
    app.command()(promote)
    app.command()(rollback)
    app.add_typer(models_app, name="models")


__all__ = ["register"]
