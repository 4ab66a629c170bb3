"""``fraudstream broker`` and ``fraudstream topics``: a local Kafka-protocol broker and its topics.

``broker start`` runs the embedded Tansu broker in the background (its run state in
``.run/broker.json``, its log in ``.run/tansu.log``), so ``broker status`` and ``broker stop``
in another terminal find it. ``topics create`` lays out the stream's topics on whichever broker
the configuration points at.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Final

import typer

from fraudstream.broker.process import (
    MEMORY_STORAGE,
    ServerState,
    kafka_ready,
    start_tansu,
)
from fraudstream.broker.topics import create_topics, list_topics
from fraudstream.cli.context import app_state
from fraudstream.errors import ConfigError, ServiceError

#: The git-ignored folder of the stream's run state.
RUN_DIR: Final = Path(".run")
STATE_FILE: Final = RUN_DIR / "broker.json"
LOG_FILE: Final = RUN_DIR / "tansu.log"
_STORAGE_SCHEMES: Final = ("memory://", "s3://")
_STORAGE_HELP: Final = (
    "memory://tansu/ (fast; a restart loses every record) or s3://BUCKET/ (durable; the bucket "
    "must exist, its endpoint and keys come from AWS_ENDPOINT, AWS_ACCESS_KEY_ID, "
    "AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, and AWS_ALLOW_HTTP=true for an http:// endpoint)."
)


def _storage(value: str) -> str:
    if not value.startswith(_STORAGE_SCHEMES) or not value.endswith("/"):
        msg = f"--storage {value!r}: give memory://tansu/ or s3://BUCKET/ (with the final slash)"
        raise ConfigError(msg)
    return value


def _running() -> ServerState | None:
    state = ServerState.load(STATE_FILE)
    return state if state is not None and state.alive() else None


def _storage_of(state: ServerState) -> str:
    command = state.command
    if "--storage-engine" in command[:-1]:
        return command[command.index("--storage-engine") + 1]
    return MEMORY_STORAGE


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM ends a foreground broker like Ctrl-C: through the clean-up below, not abruptly."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_in_foreground(state: ServerState) -> None:
    typer.echo("running in the foreground: Ctrl-C stops the broker")
    try:
        with _sigterm_as_interrupt():
            while state.alive():
                time.sleep(0.5)
    except KeyboardInterrupt:
        typer.echo("stopping the broker")
    finally:
        state.stop()
        STATE_FILE.unlink(missing_ok=True)
    typer.echo("broker stopped")


def start(
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")
    ] = 9092,
    storage: Annotated[str, typer.Option("--storage", help=_STORAGE_HELP)] = MEMORY_STORAGE,
    foreground: Annotated[
        bool, typer.Option("--foreground", help="Stay attached; Ctrl-C stops the broker.")
    ] = False,
) -> None:
    """Start the embedded Tansu broker on 127.0.0.1 (in the background unless --foreground).

    Refuses to start a second one from the same folder; prints the bootstrap address to export.
    """
    storage = _storage(storage)
    running = _running()
    if running is not None:
        msg = (
            f"a broker started from this folder is already running at {running.address} "
            f"(pid {running.pid}): stop it first with `fraudstream broker stop`"
        )
        raise ServiceError(msg)
    state = start_tansu(port, storage=storage, log_file=LOG_FILE)
    state.save(STATE_FILE)
    typer.echo(
        f"broker started at {state.address} (pid {state.pid}, storage {storage}, log {LOG_FILE})"
    )
    typer.echo(f"export FRAUDSTREAM_KAFKA_BOOTSTRAP_SERVERS={state.address}")
    if foreground:
        _run_in_foreground(state)


def stop() -> None:
    """Stop the broker that `fraudstream broker start` started from this folder."""
    state = ServerState.load(STATE_FILE)
    if state is None:
        typer.echo(f"no broker started from this folder ({STATE_FILE} does not exist)")
        return
    was_running = state.alive()
    state.stop()
    STATE_FILE.unlink(missing_ok=True)
    if was_running:
        typer.echo(f"broker at {state.address} (pid {state.pid}) stopped")
    else:
        typer.echo(f"broker at {state.address} (pid {state.pid}) was not running any more")


def status() -> None:
    """Say whether the broker started from this folder runs and answers; exit 1 when it does not."""
    state = ServerState.load(STATE_FILE)
    if state is None or not state.alive():
        where = "none was started" if state is None else f"pid {state.pid} has ended"
        typer.echo(f"broker: not running ({where}; start one with `fraudstream broker start`)")
        raise typer.Exit(1)
    answers = kafka_ready(state.address)
    typer.echo(
        f"broker: running at {state.address} (pid {state.pid}, storage {_storage_of(state)}, "
        f"log {state.log_file}); answers Kafka requests: {'yes' if answers else 'NO'}"
    )
    typer.echo(f"export FRAUDSTREAM_KAFKA_BOOTSTRAP_SERVERS={state.address}")
    if not answers:
        raise typer.Exit(1)


def _print_topics(partitions: dict[str, int]) -> None:
    width = max((len(name) for name in partitions), default=5)
    typer.echo(f"{'topic':<{width}}  partitions")
    for name, count in partitions.items():
        typer.echo(f"{name:<{width}}  {count:>10}")


def create(ctx: typer.Context) -> None:
    """Create the stream's topics (idempotent): transactions, labels, scores, alerts, dead letters."""
    kafka = app_state(ctx).config().kafka
    created = create_topics(kafka)
    if created:
        typer.echo(f"created {', '.join(created)} on {kafka.bootstrap_servers}")
    else:
        typer.echo(f"every topic already exists on {kafka.bootstrap_servers}")
    _print_topics(list_topics(kafka))


def list_command(ctx: typer.Context) -> None:
    """List the topics on the configured broker with their partitions."""
    kafka = app_state(ctx).config().kafka
    topics = list_topics(kafka)
    if not topics:
        typer.echo(f"no topics on {kafka.bootstrap_servers}: `fraudstream topics create`")
        return
    _print_topics(topics)


def register(app: typer.Typer) -> None:
    """Add the ``broker`` (start, stop, status) and ``topics`` (create, list) groups to ``app``."""
    broker = typer.Typer(
        name="broker",
        help="A local Kafka-protocol broker (the embedded Tansu) for the stream.",
        no_args_is_help=True,
    )
    broker.command("start")(start)
    broker.command("stop")(stop)
    broker.command("status")(status)
    app.add_typer(broker, name="broker")
    topics = typer.Typer(
        name="topics",
        help="The stream's topics on the configured broker.",
        no_args_is_help=True,
    )
    topics.command("create")(create)
    topics.command("list")(list_command)
    app.add_typer(topics, name="topics")


__all__ = ["LOG_FILE", "RUN_DIR", "STATE_FILE", "register"]
