"""`fraudstream pipeline`: every data stage in order, in one process."""

from __future__ import annotations

import typer

from fraudstream.cli.context import app_state
from fraudstream.cli.data import (
    QueryOption,
    Sha256Option,
    SourceOption,
    TableOption,
    ingest_source,
    with_source_options,
)
from fraudstream.cli.progress import stage_progress
from fraudstream.logs import stage
from fraudstream.training.pipeline import run_features, run_validate

STAGES = ("ingest", "validate", "features")


def pipeline(
    ctx: typer.Context,
    source: SourceOption = None,
    query: QueryOption = None,
    table: TableOption = None,
    sha256: Sha256Option = None,
) -> None:
    """Run every data stage in order: ingest → validate → features (what `dvc repro` runs)."""
    config = with_source_options(app_state(ctx).config(), source, query, table, sha256)
    with stage_progress(list(STAGES)) as starting:
        starting("ingest")
        ingest_source(config)
        starting("validate")
        with stage("validate"):
            run_validate(config)
        starting("features")
        with stage("features"):
            summary = run_features(config)
    typer.echo(
        f"pipeline finished: {' → '.join(STAGES)}; {summary.transactions.rows:,} rows, "
        f"{len(summary.features)} features"
    )


def register(app: typer.Typer) -> None:
    """Add the pipeline command to ``app``."""
    app.command()(pipeline)


__all__ = ["STAGES", "register"]
