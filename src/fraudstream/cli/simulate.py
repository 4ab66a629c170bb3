"""``fraudstream simulate``: write a simulated card-transaction log (CSV or Parquet)."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from fraudstream.errors import ConfigError
from fraudstream.io import atomic_path, frame_format, write_frame
from fraudstream.simulator import SimulatorConfig, parse_drift, simulate
from fraudstream.transactions.summary import summarize

#: Output suffix → the format ``write_frame`` takes.
#: Option names of the config fields, for error messages.
_OPTION_NAMES = {
    "customers": "--customers",
    "terminals": "--terminals",
    "days": "--days",
    "start_date": "--start-date",
    "radius": "--radius",
    "seed": "--seed",
    "label_delay_days": "--label-delay-days",
    "label_jitter_days": "--label-jitter-days",
    "drift": "--drift",
}
_DRIFT_HELP = (
    "Inject a change, repeatable: KIND:from=DAY[,key=value...]. Kinds: "
    "new-pattern (cards=5, burst=8: card-testing bursts, scenario 4), "
    "amount-shift (factor=1.5: every amount multiplied), "
    "terminal-burst (terminals=40, days=7: terminals compromised at once). "
    "days=N limits the effect to N days. See docs/simulator.md."
)


def _default(field: str) -> Any:
    return SimulatorConfig.model_fields[field].default


def _start_date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        msg = f"--start-date {text!r} is not a date; write it as YYYY-MM-DD, e.g. 2018-04-01"
        raise ConfigError(msg) from None


def _validation_message(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        if not item["loc"]:  # a rule across options: its message names them
            problems.append(str(item.get("ctx", {}).get("error", item["msg"])))
            continue
        field = str(item["loc"][0])
        option = _OPTION_NAMES.get(field, field)
        if field == "drift" and len(item["loc"]) > 1:
            option = f"--drift #{int(item['loc'][1]) + 1}"
        problems.append(f"{option}: {item['msg']} (got {item.get('input')!r})")
    return "invalid simulator options: " + "; ".join(problems)


def build_config(options: dict[str, Any], drift: list[str]) -> SimulatorConfig:
    """Validate the CLI options (``None`` = default) into a :class:`SimulatorConfig`.

    Raises:
        ConfigError: naming the option and what is wrong with it.
    """
    given = {name: value for name, value in options.items() if value is not None}
    try:
        specs = tuple(parse_drift(text) for text in drift)
    except ValueError as exc:
        raise ConfigError(f"--drift: {exc}") from None
    try:
        return SimulatorConfig(**given, drift=specs)
    except ValidationError as exc:
        raise ConfigError(_validation_message(exc)) from None


def simulate_command(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File to write: *.parquet or *.csv.")
    ],
    customers: Annotated[
        int | None,
        typer.Option(help=f"Customers, one card each (default {_default('customers')})."),
    ] = None,
    terminals: Annotated[
        int | None, typer.Option(help=f"Terminals (default {_default('terminals')}).")
    ] = None,
    days: Annotated[int | None, typer.Option(help=f"Days (default {_default('days')}).")] = None,
    start_date: Annotated[
        str | None,
        typer.Option(help=f"Day 0, YYYY-MM-DD (default {_default('start_date')})."),
    ] = None,
    radius: Annotated[
        float | None,
        typer.Option(help=f"A customer uses terminals this close (default {_default('radius')})."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help=f"Seed (default {_default('seed')}).")] = None,
    label_delay_days: Annotated[
        float | None,
        typer.Option(help=f"Days until a label is known (default {_default('label_delay_days')})."),
    ] = None,
    label_jitter_days: Annotated[
        float | None,
        typer.Option(
            help=f"± jitter of the label delay (default {_default('label_jitter_days')})."
        ),
    ] = None,
    drift: Annotated[list[str] | None, typer.Option("--drift", help=_DRIFT_HELP)] = None,
) -> None:
    """Simulate card transactions with the handbook's published design and write them atomically.

    Prints the number of rows, the fraud rate, the fraud mix by scenario and the time taken.
    """
    file_format = frame_format(output, "--output")
    options = {
        "customers": customers,
        "terminals": terminals,
        "days": days,
        "start_date": _start_date(start_date),
        "radius": radius,
        "seed": seed,
        "label_delay_days": label_delay_days,
        "label_jitter_days": label_jitter_days,
    }
    config = build_config(options, drift or [])
    started = time.perf_counter()
    frame = simulate(config)
    simulated = time.perf_counter() - started
    with atomic_path(output) as tmp:
        write_frame(tmp, frame, file_format)
    written = time.perf_counter() - started - simulated
    summary = summarize(frame)
    typer.echo(
        f"simulated {summary.rows:,} transactions in {simulated:.2f} s, "
        f"wrote {output} in {written:.2f} s; "
        f"fraud rate {summary.fraud_rate:.2%} ({summary.frauds:,} frauds); "
        f"by scenario {summary.scenario_mix()}"
    )


def register(app: typer.Typer) -> None:
    """Add the ``simulate`` command to ``app``."""
    app.command("simulate")(simulate_command)


__all__ = ["build_config", "register", "simulate_command"]
