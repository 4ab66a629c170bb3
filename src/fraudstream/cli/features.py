"""``fraudstream features``: the offline feature table, the declaration, the online state."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fraudstream.cli.context import app_state
from fraudstream.errors import ConfigError
from fraudstream.feature_store import (
    FEATURE_DEFINITION,
    FEATURE_NAMES,
    Feature,
    compute_features,
    definition_version,
)
from fraudstream.feature_store.online.rebuild import rebuild_from_broker, rebuild_from_frame
from fraudstream.feature_store.online.store import OnlineFeatureStore
from fraudstream.io import atomic_path, frame_format, write_frame
from fraudstream.logs import stage
from fraudstream.training.data import read_valid_transactions
from fraudstream.training.pipeline import run_features

_LIST_HEADER = ("name", "entity", "window", "aggregation", "delay", "description")


def build(
    ctx: typer.Context,
    input_path: Annotated[
        Path | None,
        typer.Option(
            "--input", "-i", help="Transactions: *.csv or *.parquet (default: the pipeline's)."
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Feature table to write: *.parquet or *.csv."),
    ] = None,
) -> None:
    """Compute every declared feature for every transaction (point in time) into one table.

    The table has TRANSACTION_ID then one column per feature, in the input's row order. Files
    without labels are fine: label-based features are then 0 (no fraud known). Without --input
    and --output this is the pipeline's stage: the validated transactions of data/processed
    into data/features.
    """
    config = app_state(ctx).config()
    if input_path is None and output is None:
        with stage("features"):
            summary = run_features(config)
        typer.echo(
            f"wrote {summary.transactions.rows:,} rows x {len(summary.features)} features to "
            f"{config.paths.features_dir} (definition {summary.definition_version})"
        )
        return
    if input_path is None or output is None:
        msg = "give both --input and --output, or neither (the pipeline's files)"
        raise ConfigError(msg)
    output_format = frame_format(output, "--output")
    transactions = read_valid_transactions(input_path, config)
    features = compute_features(transactions)
    with atomic_path(output) as tmp:
        write_frame(tmp, features, output_format)
    typer.echo(
        f"wrote {len(features):,} rows x {len(FEATURE_NAMES)} features to {output} "
        f"(definition {definition_version()})"
    )


def rebuild(
    ctx: typer.Context,
    input_path: Annotated[
        Path | None,
        typer.Option(
            "--input",
            "-i",
            help="Transactions: *.csv or *.parquet (default: the broker's topics, from the start).",
        ),
    ] = None,
    clear: Annotated[
        bool,
        typer.Option("--clear", help="Delete this definition's online state first."),
    ] = False,
) -> None:
    """Rebuild the online (Redis) feature state from the transaction log.

    Every transaction and every label known at the end of the log is loaded, history the
    features no longer read is pruned, and the labels watermark is set; the stream scorer then
    goes on as if it had never stopped. Without --input the log is the broker's transactions and
    labels topics, read from the beginning; with it, a file, validated like `features build`'s.
    """
    config = app_state(ctx).config()
    transactions = None if input_path is None else read_valid_transactions(input_path, config)
    store = OnlineFeatureStore.from_config(config.redis)
    try:
        if clear:
            typer.echo(f"deleted {store.clear():,} keys of definition {store.layout.version}")
        with stage("features rebuild"):
            if transactions is None:
                summary = rebuild_from_broker(store, config.kafka)
            else:
                summary = rebuild_from_frame(store, transactions)
        stats = store.stats()
    finally:
        store.close()
    source = config.kafka.bootstrap_servers if input_path is None else str(input_path)
    watermark = "none" if summary.watermark is None else summary.watermark.isoformat()
    typer.echo(
        f"rebuilt the online features of definition {stats.definition_version} from {source}: "
        f"{summary.transactions:,} transactions, {summary.labels:,} labels, "
        f"{summary.skipped:,} records skipped, labels watermark {watermark}; "
        f"{stats.entity_keys:,} entity keys in Redis at {store.address}"
    )


def _row(feature: Feature) -> tuple[str, ...]:
    return (
        feature.name,
        "-" if feature.entity is None else feature.entity.value,
        f"{feature.window_days}d" if feature.window_days else "-",
        feature.aggregation.value,
        f"{feature.delay_days}d" if feature.entity is not None else "-",
        feature.description,
    )


def format_definition(definition: tuple[Feature, ...] = FEATURE_DEFINITION) -> str:
    """The declaration as an aligned text table, one feature per line."""
    rows = [_LIST_HEADER, *(_row(f) for f in definition)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_LIST_HEADER) - 1)]
    lines = [
        "  ".join([*(v.ljust(w) for v, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def list_features() -> None:
    """Print the feature declaration: name, entity, window, aggregation, delay, description."""
    typer.echo(format_definition())
    typer.echo(f"\n{len(FEATURE_DEFINITION)} features, definition {definition_version()}")


def register(app: typer.Typer) -> None:
    """Add the ``features`` command group (``build``, ``list``, ``rebuild``) to ``app``."""
    group = typer.Typer(
        name="features",
        help="The feature declaration, the offline (point-in-time) feature table, the online state.",
        no_args_is_help=True,
    )
    group.command("build")(build)
    group.command("list")(list_features)
    group.command("rebuild")(rebuild)
    app.add_typer(group, name="features")


__all__ = [
    "build",
    "format_definition",
    "list_features",
    "rebuild",
    "register",
]
