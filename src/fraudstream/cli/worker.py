"""``fraudstream worker``: run one stream scorer (a Faust worker) until stopped."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fraudstream.cli.context import app_state


def register(app: typer.Typer) -> None:
    """Add the ``worker`` command to ``app``."""

    @app.command()
    def worker(
        ctx: typer.Context,
        datadir: Annotated[
            Path, typer.Option("--datadir", help="Faust's local folder (run state).")
        ] = Path(".run/faust"),
        loglevel: Annotated[str, typer.Option("--loglevel", help="Faust's log level.")] = "warning",
    ) -> None:
        """Score every transaction of the transactions topic; stop with Ctrl-C or SIGTERM.

        Loads the registry's champion first (and fails at once without one), then joins the
        scorer group: start several workers to split the partitions.
        """
        from fraudstream.stream_scorer.champion import ChampionHolder
        from fraudstream.stream_scorer.runner import run_worker

        config = app_state(ctx).config()
        holder = ChampionHolder(config)
        model = holder.load_initial()
        typer.echo(
            f"worker: champion version {model.version}, threshold {model.threshold:.4f}; "
            f"broker {config.kafka.bootstrap_servers}, redis {config.redis.url}",
            err=True,
        )
        run_worker(config, holder, datadir=datadir, loglevel=loglevel)


__all__ = ["register"]
