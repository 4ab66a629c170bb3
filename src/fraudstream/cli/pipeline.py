"""`fraudstream pipeline`: every stage in order, in one process."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fraudstream.cli.data import (
    FallbackOption,
    QueryOption,
    RowsOption,
    SeedOption,
    Sha256Option,
    SourceOption,
    TableOption,
    ingest_with_fallback,
    with_source_options,
)
from fraudstream.cli.progress import stage_progress
from fraudstream.config import FraudstreamConfig
from fraudstream.jobs.data import run_build_features, run_preprocess, run_validate
from fraudstream.logs import stage

if TYPE_CHECKING:
    from fraudstream.cli.app import AppState

DATA_JOBS: dict[str, Callable[[FraudstreamConfig], Any]] = {
    "validate": run_validate,
    "preprocess": run_preprocess,
    "build-features": run_build_features,
}


def _model_jobs() -> dict[str, Callable[[FraudstreamConfig], Any]]:
    # Imported on use: MLflow and Optuna take seconds to import; --data-only does not need them.
    from fraudstream.jobs import training

    return {
        "tune": training.run_tune,
        "train": training.run_train,
        "evaluate": training.run_evaluate,
        "promote": training.run_promote,
    }


def pipeline(
    ctx: typer.Context,
    source: SourceOption = None,
    query: QueryOption = None,
    table: TableOption = None,
    sha256: Sha256Option = None,
    rows: RowsOption = None,
    seed: SeedOption = None,
    offline_fallback: FallbackOption = False,
    data_only: Annotated[
        bool, typer.Option("--data-only", help="Stop after build-features.")
    ] = False,
) -> None:
    """Run every stage in order: ingest → validate → preprocess → build-features → tune → train → evaluate → promote."""
    state: AppState = ctx.obj
    config = with_source_options(state.config(), source, query, table, sha256, rows, seed)
    jobs = DATA_JOBS | ({} if data_only else _model_jobs())
    if not config.tuning.enabled:
        jobs.pop("tune", None)
    results: dict[str, Any] = {}
    with stage_progress(["ingest", *jobs]) as starting:
        starting("ingest")
        ingest_with_fallback(config, offline_fallback)
        for name, job in jobs.items():
            starting(name)
            with stage(name):
                results[name] = job(config)
    if (decision := results.get("promote")) is not None:
        typer.echo(f"{'PROMOTED' if decision.promoted else 'REFUSED'}: {decision.reason}")
    typer.echo(f"pipeline finished: {' → '.join(['ingest', *jobs])}")


def register(app: typer.Typer) -> None:
    """Add the pipeline command to ``app``."""
    app.command()(pipeline)


__all__ = ["register"]
