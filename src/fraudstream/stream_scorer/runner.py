"""Run a worker in this process until SIGINT or SIGTERM (Faust's worker loop)."""

from __future__ import annotations

import gc
from pathlib import Path

import faust

from fraudstream.config import FraudstreamConfig
from fraudstream.stream_scorer.app import build_app
from fraudstream.stream_scorer.champion import ChampionHolder


def run_worker(
    config: FraudstreamConfig,
    holder: ChampionHolder,
    *,
    datadir: Path = Path(".run/faust"),
    loglevel: str = "warning",
) -> None:
    """Build the app around an already loaded champion and run it until stopped."""
    datadir.mkdir(parents=True, exist_ok=True)
    worker = build_app(config, holder=holder, datadir=datadir)
    # Everything loaded so far (libraries, the model) lives as long as the process: keep it out
    # of the garbage collector's full passes, which otherwise pause the stream for tens of ms.
    gc.collect()
    gc.freeze()
    faust_worker = faust.Worker(
        worker.app,
        loglevel=loglevel,
        override_logging=False,
        redirect_stdouts=False,
        quiet=True,
    )
    faust_worker.execute_from_commandline()


__all__ = ["run_worker"]
