"""The global options every command reads from its Typer context."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from fraudstream.cli.app import AppState


def app_state(ctx: typer.Context) -> AppState:
    """The :class:`AppState` the root callback stored on the context."""
    state: AppState = ctx.obj
    return state


__all__ = ["app_state"]
