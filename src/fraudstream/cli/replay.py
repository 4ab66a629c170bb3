"""``fraudstream replay``: send a transaction file to the broker as the stream of its events."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from fraudstream.cli.context import app_state
from fraudstream.config import FraudstreamConfig
from fraudstream.errors import ConfigError, DataValidationError
from fraudstream.io import sha256_file
from fraudstream.producer.pacing import Speed
from fraudstream.producer.replay import (
    ReplayOptions,
    ReplayProgress,
    ReplaySource,
    ReplaySummary,
    replay,
)
from fraudstream.transactions.contract import TX_FRAUD, TX_FRAUD_SCENARIO
from fraudstream.transactions.files import read_transaction_file
from fraudstream.transactions.labels import with_label_times
from fraudstream.transactions.report import validation_error
from fraudstream.transactions.validate import validate_transactions

_console = Console(stderr=True)


def read_source(path: Path, config: FraudstreamConfig) -> ReplaySource:
    """The input file, validated, with label times (the configured delay when it has none).

    Raises:
        IngestionError: the file is missing or not a table.
        DataValidationError: a value breaks the contract, or labels lack their scenario.
    """
    result = validate_transactions(read_transaction_file(path), config.validation.max_examples)
    if result.frame is None:
        raise DataValidationError(validation_error(result.report, str(path), None))
    frame = result.frame
    if TX_FRAUD in frame.columns and TX_FRAUD_SCENARIO not in frame.columns:
        msg = (
            f"{path} has {TX_FRAUD} but no {TX_FRAUD_SCENARIO}: add the scenario column (0 for "
            f"genuine) or drop {TX_FRAUD} to replay transactions without labels"
        )
        raise DataValidationError(msg)
    frame = with_label_times(frame, config.validation.default_label_delay_days)
    return ReplaySource(frame=frame, path=path, sha256=sha256_file(path))


def _start(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        msg = f"--from {text!r} is not a date or time: write YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS"
        raise ConfigError(msg) from None
    # the files' times are naive UTC: an aware --from is converted to that
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """Yield an Event set by the first Ctrl-C or SIGTERM; a second one interrupts at once."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def request_stop(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        _console.print("stopping: confirming what was sent and saving the checkpoint…")

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _event_progress() -> Iterator[ReplayProgress]:
    """A bar over the sequence's records with the rate, on stderr when it is a terminal."""
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]replay"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    )
    with Progress(
        *columns, console=_console, transient=True, disable=not sys.stderr.isatty()
    ) as bar:
        task = bar.add_task("replay", total=None, rate="")
        start: list[int] = []

        def update(done: int, total: int) -> None:
            if not start:
                start.append(done)
            elapsed = bar.tasks[task].elapsed or 0.0
            rate = f"{(done - start[0]) / elapsed:,.0f} records/s" if elapsed else ""
            bar.update(task, completed=done, total=total, rate=rate)

        yield update


def _report(summary: ReplaySummary, bootstrap: str) -> str:
    if summary.already_finished:
        return (
            f"this replay already finished ({summary.total:,} records to {bootstrap}; checkpoint "
            f"{summary.checkpoint}): nothing sent. Pass --no-resume to send it again."
        )
    resumed = f" (resumed at record {summary.resumed_from:,})" if summary.resumed_from else ""
    text = (
        f"sent {summary.transactions:,} transactions, {summary.labels:,} labels and "
        f"{summary.watermarks:,} watermarks to {bootstrap} in {summary.seconds:.1f} s "
        f"({summary.events_per_second:,.0f} events/s){resumed}"
    )
    if summary.interrupted:
        text += (
            f"\nstopped at record {summary.next_index:,} of {summary.total:,}: run the same "
            "command again to resume"
        )
    else:
        text += f"\nreplay finished: all {summary.total:,} records confirmed"
    return text


def replay_command(
    ctx: typer.Context,
    input_path: Annotated[
        Path, typer.Option("--input", "-i", help="Transactions to send: *.csv or *.parquet.")
    ],
    speed: Annotated[
        str,
        typer.Option(
            help="max (as fast as possible), realtime (event-time gaps slept) or xN (N times faster)."
        ),
    ] = "max",
    rate: Annotated[
        float | None,
        typer.Option(min=0.001, help="At most this many transactions per second."),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--from", help="Transactions at or after this time, labels known at or after it."
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many transactions.")
    ] = None,
    no_resume: Annotated[
        bool,
        typer.Option("--no-resume", help="Start over instead of resuming from the checkpoint."),
    ] = False,
) -> None:
    """Replay a transaction file onto the broker in event time: transactions, labels, watermarks.

    Transactions go to the transactions topic at TX_DATETIME, keyed by card; labels go to the
    labels topic when they become known (TX_LABEL_DATETIME), with the "labels known through"
    watermark the scorer waits for. Ctrl-C stops cleanly: rerunning the same command resumes
    with no duplicate and no gap (after a hard kill, the last second or so may be sent again;
    consumers de-duplicate by TRANSACTION_ID).
    """
    config = app_state(ctx).config()
    options = ReplayOptions(
        speed=Speed.parse(speed),
        rate=rate,
        start=_start(start),
        limit=limit,
        resume=not no_resume,
    )
    source = read_source(input_path, config)
    with stop_on_signals() as stop, _event_progress() as progress:
        summary = replay(source, config.kafka, config.replay, options, progress=progress, stop=stop)
    typer.echo(_report(summary, config.kafka.bootstrap_servers))


def register(app: typer.Typer) -> None:
    """Add the ``replay`` command to ``app``."""
    app.command("replay")(replay_command)


__all__ = ["read_source", "register", "replay_command", "stop_on_signals"]
