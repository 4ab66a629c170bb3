"""``fraudstream models list`` and ``fraudstream rollback``: inspect and restore registered models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from fraudstream.cli.context import app_state
from fraudstream.logs import stage
from fraudstream.training.registry_config import RegistrySections, registry_sections

if TYPE_CHECKING:
    from fraudstream.training.registry import VersionSummary

_HEADER = (
    "version",
    "aliases",
    "test_window",
    "avg_precision",
    "card_precision@k",
    "gate",
    "features",
    "run_id",
    "created",
)


def _sections(ctx: typer.Context) -> RegistrySections:
    return registry_sections(app_state(ctx).config())


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _row(item: VersionSummary) -> tuple[str, ...]:
    return (
        str(item.version),
        ",".join(item.aliases) or "-",
        item.test_window or "-",
        _number(item.average_precision),
        _number(item.card_precision_top_k),
        item.gate_decision or "-",
        item.feature_definition_version or "-",
        item.run_id or "-",
        item.created_at.isoformat(timespec="seconds"),
    )


def format_versions(versions: list[VersionSummary]) -> str:
    """The versions as an aligned text table, newest first, one version per line."""
    rows = [_HEADER, *(_row(item) for item in versions)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def list_models(ctx: typer.Context) -> None:
    """List the registered versions: aliases, test window and metrics, gate decision."""
    # MLflow takes seconds to import; ``--help`` and the other commands skip it.
    from fraudstream.training.registry import list_versions

    sections = _sections(ctx)
    versions = list_versions(sections)
    if not versions:
        typer.echo(f"no registered versions of '{sections.registry.model_name}' yet")
        return
    typer.echo(format_versions(versions))


def rollback(
    ctx: typer.Context,
    by: Annotated[
        str | None,
        typer.Option("--by", help="Who rolls back, for the audit history (default: login name)."),
    ] = None,
) -> None:
    """Make the previous champion champion again (recorded in the audit history)."""
    from fraudstream.training.registry import rollback as restore_previous_champion

    with stage("rollback"):
        entry = restore_previous_champion(_sections(ctx), actor=by)
    typer.echo(
        f"rolled back: version {entry.version} is champion again "
        f"(was version {entry.previous_champion})"
    )


def register(app: typer.Typer) -> None:
    """Add ``models list`` and ``rollback`` to ``app``."""
    group = typer.Typer(
        name="models", help="Inspect the registered model versions.", no_args_is_help=True
    )
    group.command("list")(list_models)
    app.add_typer(group, name="models")
    app.command("rollback")(rollback)


__all__ = ["format_versions", "list_models", "register", "rollback"]
