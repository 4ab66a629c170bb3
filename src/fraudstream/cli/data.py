"""CLI commands of the data pipeline: ingest, validate, params."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from fraudstream.cli.context import app_state
from fraudstream.cli.progress import progress_bar
from fraudstream.config import FraudstreamConfig, dump_config
from fraudstream.errors import DataValidationError
from fraudstream.io import write_text_atomic
from fraudstream.logs import stage
from fraudstream.training.pipeline import (
    FEATURES_FILE,
    FEATURES_SUMMARY,
    TRANSACTIONS_FILE,
    run_ingest,
    run_validate,
)
from fraudstream.training.summary import feature_head, read_summary, scenario_examples
from fraudstream.transactions.contract import TRANSACTION_ID
from fraudstream.transactions.files import read_transaction_file
from fraudstream.transactions.report import format_report, validation_error
from fraudstream.transactions.validate import validate_transactions

SourceOption = Annotated[
    str | None,
    typer.Option(
        "--source",
        "-s",
        help="'simulator', https:// URL, CSV/Parquet path or SQLAlchemy URL (default: data.source).",
    ),
]
QueryOption = Annotated[
    str | None, typer.Option("--query", help="SQL query for a database source.")
]
TableOption = Annotated[
    str | None, typer.Option("--table", help="Table to read from a database source.")
]
Sha256Option = Annotated[
    str | None, typer.Option("--sha256", help="Expected sha256 of the source bytes.")
]


def with_source_options(
    config: FraudstreamConfig,
    source: str | None,
    query: str | None,
    table: str | None,
    sha256: str | None,
) -> FraudstreamConfig:
    """Apply the ``--source`` family of CLI options on top of the configuration."""
    data = config.data.model_dump()
    if source:
        data["source"] = source
    if query or table:
        data["sql_query"], data["sql_table"] = query, table
    if sha256:
        data["checksums"] = {**data["checksums"], data["source"]: sha256.lower()}
    return config.model_validate({**config.model_dump(), "data": data})


def ingest_source(config: FraudstreamConfig) -> None:
    """Ingest the configured source and say what arrived."""
    with stage("ingest"), progress_bar("ingest") as progress:
        manifest = run_ingest(config, progress=progress)
    typer.echo(
        f"ingested {manifest.rows:,} rows from {manifest.source} (sha256 {manifest.sha256[:12]}…)"
    )


def ingest(
    ctx: typer.Context,
    source: SourceOption = None,
    query: QueryOption = None,
    table: TableOption = None,
    sha256: Sha256Option = None,
) -> None:
    """Bring transactions into data/raw with a provenance manifest.

    The source is 'simulator' (the built-in simulator, set by the config's simulator section), an
    https:// URL (streamed, retried, sha256-checked when a checksum is pinned), a local CSV or
    Parquet file, or a SQLAlchemy database URL with --query or --table.
    """
    ingest_source(with_source_options(app_state(ctx).config(), source, query, table, sha256))


def validate(
    ctx: typer.Context,
    input_path: Annotated[
        Path | None,
        typer.Option(
            "--input",
            "-i",
            help="Check this CSV/Parquet file only: print the report, write nothing.",
        ),
    ] = None,
) -> None:
    """Validate transactions: columns, types, ids, amounts, timestamps, labels — every problem at once.

    Without --input: validates what was last ingested, writes reports/validation.json and .txt and,
    only when it passed, data/processed/transactions.parquet. Exits non-zero listing every failure
    when the data is not fit to use; nothing downstream is changed then.
    """
    config = app_state(ctx).config()
    if input_path is None:
        with stage("validate"):
            report = run_validate(config)
        typer.echo(f"validation passed: {report.rows:,} rows, 0 failures")
        return
    result = validate_transactions(
        read_transaction_file(input_path), config.validation.max_examples
    )
    typer.echo(format_report(result.report), nl=False, err=not result.report.passed)
    if not result.report.passed:
        raise DataValidationError(validation_error(result.report, str(input_path), None))


def params(
    ctx: typer.Context,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the resolved configuration.")
    ] = Path("params.yaml"),
) -> None:
    """Write the resolved configuration (file + FRAUDSTREAM_* overrides) for DVC to track.

    The file is rewritten only when its content changes, so an unchanged configuration keeps
    `dvc repro` a no-op.
    """
    text = dump_config(app_state(ctx).config())
    if not output.is_file() or output.read_text(encoding="utf-8") != text:
        write_text_atomic(output, text)
        typer.echo(f"wrote {output}")


def _table(frame: pd.DataFrame) -> str:
    """One column per row of ``frame``: feature names down the side fit any terminal."""
    return frame.T.to_string(float_format=lambda v: f"{v:,.4g}")


def summary(
    ctx: typer.Context,
    rows: Annotated[int, typer.Option("--rows", min=1, max=50, help="Feature rows to show.")] = 5,
) -> None:
    """Summarise what the pipeline built: rows, fraud rate, scenario mix, the feature table."""
    paths = app_state(ctx).config().paths
    built = read_summary(paths.features_dir / FEATURES_SUMMARY)
    seen = built.transactions
    typer.echo(
        f"{seen.rows:,} transactions from {seen.first_datetime} to {seen.last_datetime}, "
        f"{seen.active_customers:,} cards, {seen.active_terminals:,} terminals; "
        f"{seen.frauds:,} frauds ({seen.fraud_rate:.3%})"
    )
    typer.echo(f"frauds by scenario: {seen.scenario_mix() if seen.frauds else 'no labels'}")
    features_path = paths.features_dir / FEATURES_FILE
    head = feature_head(features_path, rows)
    typer.echo(
        f"\n{len(built.features)} features (definition {built.definition_version}); "
        f"the feature table's first {len(head)} rows:"
    )
    typer.echo(_table(head.set_index(TRANSACTION_ID)))
    examples = scenario_examples(paths.processed_dir / TRANSACTIONS_FILE, features_path)
    if not examples.empty:
        typer.echo("\nthe last transaction of each scenario:")
        typer.echo(_table(examples))
    typer.echo(f"\nreports: {paths.reports_dir / 'validation.txt'}; tables: {paths.features_dir}/")


def register(app: typer.Typer) -> None:
    """Add the data commands to ``app``."""
    app.command()(ingest)
    app.command()(validate)
    app.command()(params)
    app.command()(summary)


__all__ = [
    "QueryOption",
    "Sha256Option",
    "SourceOption",
    "TableOption",
    "ingest_source",
    "register",
    "with_source_options",
]
