"""Rich progress bars on stderr, shown only when stderr is a terminal."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from fraudstream.training.sources import ProgressCallback

_console = Console(stderr=True)


@contextlib.contextmanager
def progress_bar(description: str) -> Iterator[ProgressCallback]:
    """Yield a callback ``(done, total)`` that drives a progress bar while the block runs."""
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
    )
    with Progress(
        *columns, console=_console, transient=True, disable=not sys.stderr.isatty()
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@contextlib.contextmanager
def stage_progress(stages: list[str]) -> Iterator[Callable[[str], None]]:
    """A bar over the pipeline stages; call the yielded function with each stage as it starts."""
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
    )
    with Progress(
        *columns, console=_console, transient=True, disable=not sys.stderr.isatty()
    ) as bar:
        task = bar.add_task("pipeline", total=len(stages))

        def starting(name: str) -> None:
            bar.update(task, description=name, completed=stages.index(name))

        yield starting


def banner(title: str, text: str) -> None:
    """Print a loud, boxed notice on stderr (always, terminal or not)."""
    _console.print(Panel(text, title=title, border_style="bold yellow", expand=False))


__all__ = ["banner", "progress_bar", "stage_progress"]
