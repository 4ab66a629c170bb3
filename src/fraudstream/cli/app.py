"""The root of the ``fraudstream`` CLI: global options, logging, and the error contract.

User mistakes (any :class:`FraudstreamError`) print one paragraph on stderr and exit non-zero with
the error's code; a traceback appears only with ``--debug``.
"""

from __future__ import annotations

import logging
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import typer

from fraudstream import __version__
from fraudstream.cli import broker as broker_commands
from fraudstream.cli import data as data_commands
from fraudstream.cli import features as feature_commands
from fraudstream.cli import models as model_commands
from fraudstream.cli import pipeline as pipeline_command
from fraudstream.cli import replay as replay_command
from fraudstream.cli import simulate as simulate_command
from fraudstream.cli import stream_demo as stream_demo_command
from fraudstream.cli import train as train_commands
from fraudstream.cli import worker as worker_command
from fraudstream.config import (
    DEFAULT_CONFIG_PATH,
    FraudstreamConfig,
    load_config,
    load_logging_config,
)
from fraudstream.errors import FraudstreamError
from fraudstream.logs import configure_logging

app = typer.Typer(
    name="fraudstream",
    help="Score card transactions for fraud as they stream, and run the whole life of the model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@dataclass(frozen=True)
class AppState:
    """Global options shared by every command."""

    config_path: Path
    use_env: bool
    #: ``--debug`` / ``--log-format`` as logging settings (``serve`` hands them to its workers).
    log_overrides: dict[str, str] = field(default_factory=dict)

    def config(self) -> FraudstreamConfig:
        """Load and validate the configuration (once per command)."""
        return load_config(self.config_path, use_env=self.use_env)


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path,
        typer.Option(
            "--config", "-c", envvar="FRAUDSTREAM_CONFIG", help="Configuration YAML file."
        ),
    ] = DEFAULT_CONFIG_PATH,
    no_env: Annotated[
        bool,
        typer.Option("--no-env", help="Ignore FRAUDSTREAM_* overrides (DVC stages use this)."),
    ] = False,
    log_format: Annotated[
        Literal["auto", "json", "human"] | None,
        typer.Option("--log-format", help="JSON lines or human text (default: from logging.yaml)."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
) -> None:
    """Configure logging and remember the global options."""
    logging_config = load_logging_config(config.parent / "logging.yaml")
    updates: dict[str, str] = {"level": "DEBUG"} if debug else {}
    if log_format:
        updates["format"] = log_format
    configure_logging(logging_config.model_copy(update=updates))
    ctx.obj = AppState(config_path=config, use_env=not no_env, log_overrides=updates)


@app.command()
def version() -> None:
    """Print the fraudstream version."""
    typer.echo(__version__)


simulate_command.register(app)
data_commands.register(app)
feature_commands.register(app)
train_commands.register(app)
model_commands.register(app)
pipeline_command.register(app)
broker_commands.register(app)
replay_command.register(app)
worker_command.register(app)
stream_demo_command.register(app)


def _one_paragraph(message: str) -> str:
    """Collapse a message onto one line; the terminal wraps it."""
    return " ".join(message.split())


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``fraudstream`` command."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        code = app(args=args, prog_name="fraudstream", standalone_mode=False)
    except typer.Abort:
        typer.echo("aborted", err=True)
        code = 130
    except typer.TyperException as exc:  # usage errors: unknown option, bad parameter value
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            typer.echo(f"error: {exc.format_message()}", err=True)
        code = exc.exit_code
    except FraudstreamError as exc:
        if debug:
            traceback.print_exc()
        typer.echo(_one_paragraph(f"error: {exc}"), err=True)
        code = exc.exit_code
    logging.shutdown()
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["AppState", "app", "main"]
