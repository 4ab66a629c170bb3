"""CLI commands of the serving stage: serve the model, export a bundle of it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from churnguard.cli.context import app_state
from churnguard.logs import stage

ASGI_FACTORY = "churnguard.api.asgi:create_app_from_env"


def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option("--host", help="Interface to bind (default: serving.host).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="Port (default: serving.port)."),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="uvicorn worker processes.")
    ] = 1,
    model_uri: Annotated[
        str | None,
        typer.Option(
            "--model-uri", help="Registry alias or bundle folder (default: serving.model_uri)."
        ),
    ] = None,
) -> None:
    """Serve predictions over HTTP (uvicorn) on the champion or a bundle; runs until stopped."""
    import uvicorn

    from churnguard.api.security import resolve_api_key

    state = app_state(ctx)
    if model_uri:
        os.environ["CHURNGUARD_SERVING_MODEL_URI"] = model_uri
    config = state.config()  # validate once here, so a mistake is one message, not a traceback
    resolve_api_key(config.serving)
    os.environ["CHURNGUARD_CONFIG"] = str(state.config_path)
    # Each worker builds its logging from the environment: pass --log-format / --debug on.
    os.environ.update({f"CHURNGUARD_LOG_{k.upper()}": v for k, v in state.log_overrides.items()})
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several processes: each writes its metrics to this folder, /metrics adds them up.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="churnguard-metrics-")
    uvicorn.run(
        ASGI_FACTORY,
        factory=True,
        host=host or config.serving.host,
        port=port or config.serving.port,
        workers=workers,
        log_config=None,
        access_log=False,  # churnguard writes its own JSON access log
        timeout_graceful_shutdown=10,
    )


def export(
    ctx: typer.Context,
    model_uri: Annotated[
        str, typer.Option("--model-uri", help="Registry alias to export.")
    ] = "models:/churnguard@champion",
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Bundle folder (replaced atomically).")
    ] = Path("models/bundle"),
) -> None:
    """Export a registered model as a local bundle that serves without a tracking server."""
    from churnguard.models.bundle import export_bundle
    from churnguard.models.tracking import configure_mlflow

    config = app_state(ctx).config()
    with stage("export"):
        configure_mlflow(config.mlflow, experiment=False)
        record = export_bundle(model_uri, output)
    typer.echo(
        f"exported {record.name} version {record.version} ({model_uri}) to {output}; "
        f"serve it with: churnguard serve --model-uri {output}"
    )


def register(app: typer.Typer) -> None:
    """Add the serving commands to ``app``."""
    app.command()(serve)
    app.command()(export)


__all__ = ["register"]
