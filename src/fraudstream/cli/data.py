"""CLI commands of the data pipeline: ingest, validate, preprocess, build-features, pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fraudstream.cli.context import app_state
from fraudstream.cli.progress import banner, progress_bar
from fraudstream.config import FraudstreamConfig, dump_config
from fraudstream.data.sources import SourceKind, classify_source, url_reachable
from fraudstream.errors import SourceUnreachableError
from fraudstream.io import write_text_atomic
from fraudstream.jobs.data import run_build_features, run_ingest, run_preprocess, run_validate
from fraudstream.logs import stage

SourceOption = Annotated[
    str | None,
    typer.Option(
        "--source",
        "-s",
        help="https:// URL, CSV/Parquet path, SQLAlchemy URL, or 'synthetic' (default: data.source).",
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
RowsOption = Annotated[
    int | None, typer.Option("--rows", min=1, help="Rows to generate (synthetic source).")
]
SeedOption = Annotated[
    int | None, typer.Option("--seed", help="Generator seed (synthetic source).")
]
FallbackOption = Annotated[
    bool,
    typer.Option(
        "--offline-fallback",
        help="Use the synthetic source, with a banner, if a URL is unreachable.",
    ),
]


def with_source_options(
    config: FraudstreamConfig,
    source: str | None,
    query: str | None,
    table: str | None,
    sha256: str | None,
    rows: int | None,
    seed: int | None,
) -> FraudstreamConfig:
    """Apply the ``--source`` family of CLI options on top of the configuration."""
    data = config.data.model_dump()
    if source:
        data["source"] = source
    if query or table:
        data["sql_query"], data["sql_table"] = query, table
    if sha256:
        data["checksums"] = {**data["checksums"], data["source"]: sha256.lower()}
    synthetic = {"n_rows": rows, "seed": seed}
    data["synthetic"] |= {k: v for k, v in synthetic.items() if v is not None}
    return config.model_validate({**config.model_dump(), "data": data})


def _fallback_banner(config: FraudstreamConfig, reason: str) -> None:
    banner(
        "OFFLINE: USING SYNTHETIC DATA",
        f"{reason}\nFalling back to the synthetic generator ({config.data.synthetic.n_rows} rows, "
        f"seed {config.data.synthetic.seed}). Results are NOT real-data results.\n"
        "Use real data offline with FRAUDSTREAM_DATA_SOURCE=/path/to/telco.csv.",
    )


def ingest_with_fallback(config: FraudstreamConfig, offline_fallback: bool) -> None:
    """Ingest the configured source; with ``offline_fallback``, synthetic data if unreachable."""
    with stage("ingest"), progress_bar("ingest") as progress:
        try:
            manifest = run_ingest(config, progress=progress)
        except SourceUnreachableError as exc:
            if not offline_fallback:
                raise
            _fallback_banner(config, str(exc))
            manifest = run_ingest(config, "synthetic", progress)
    typer.echo(
        f"ingested {manifest.rows} rows from {manifest.source} (sha256 {manifest.sha256[:12]}…)"
    )


def ingest(
    ctx: typer.Context,
    source: SourceOption = None,
    query: QueryOption = None,
    table: TableOption = None,
    sha256: Sha256Option = None,
    rows: RowsOption = None,
    seed: SeedOption = None,
    offline_fallback: FallbackOption = False,
) -> None:
    """Fetch raw customer data into data/raw with a provenance manifest.

    The source is an https:// URL (streamed, retried, sha256-checked when a checksum is known), a
    local CSV or Parquet file, a SQLAlchemy database URL with --query or --table, or 'synthetic'.
    """
    config = with_source_options(app_state(ctx).config(), source, query, table, sha256, rows, seed)
    ingest_with_fallback(config, offline_fallback)


def validate(ctx: typer.Context) -> None:
    """Validate what was last ingested: schema, categories, ranges, ids, cross-column and quality rules.

    Writes reports/validation.json and reports/validation.txt; exits non-zero listing every
    failure when the data is not fit to use.
    """
    with stage("validate"):
        report = run_validate(app_state(ctx).config())
    quirks = ", ".join(f"{k}={v}" for k, v in report.handled_quirks.items())
    typer.echo(
        f"validation passed: {report.rows} rows, 0 failures, {len(report.warnings)} warnings ({quirks})"
    )


def preprocess(ctx: typer.Context) -> None:
    """Coerce types, encode Churn as 0/1 and split train/validation/test into data/processed."""
    with stage("preprocess"):
        summary = run_preprocess(app_state(ctx).config())
    sizes = ", ".join(f"{name}={rows}" for name, rows in summary.rows.items())
    typer.echo(f"preprocessed: {sizes} rows")


def build_features(ctx: typer.Context) -> None:
    """Fit the feature pipeline on the train split; save its output and the reference profile."""
    with stage("build-features"):
        path = run_build_features(app_state(ctx).config())
    typer.echo(f"features built; reference profile at {path}")


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


def resolve_source(
    ctx: typer.Context,
    source: SourceOption = None,
    offline_fallback: FallbackOption = False,
) -> None:
    """Print the data source to use; with --offline-fallback, 'synthetic' when a URL is unreachable."""
    config = app_state(ctx).config()
    chosen = source or config.data.source
    if classify_source(chosen) is SourceKind.URL and not url_reachable(
        chosen, config.data.download.timeout_seconds
    ):
        if not offline_fallback:
            msg = f"{chosen} is unreachable; pass --offline-fallback to fall back to synthetic data"
            raise SourceUnreachableError(msg)
        _fallback_banner(config, f"{chosen} is unreachable (no network?).")
        chosen = "synthetic"
    typer.echo(chosen)


def register(app: typer.Typer) -> None:
    """Add the data commands to ``app``."""
    app.command()(ingest)
    app.command()(validate)
    app.command()(preprocess)
    app.command("build-features")(build_features)
    app.command()(params)
    app.command("resolve-source")(resolve_source)


__all__ = [
    "FallbackOption",
    "QueryOption",
    "RowsOption",
    "SeedOption",
    "Sha256Option",
    "SourceOption",
    "TableOption",
    "ingest_with_fallback",
    "register",
    "with_source_options",
]
