"""The ASGI entry point uvicorn imports (``churnguard.api.asgi:create_app_from_env``).

``churnguard serve`` runs it with ``factory=True``, so every worker process builds its own app
from the configuration file (``CHURNGUARD_CONFIG``) and the ``CHURNGUARD_*`` environment.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from fastapi import FastAPI

from churnguard.api.app import create_app
from churnguard.config import DEFAULT_CONFIG_PATH, load_config, load_logging_config
from churnguard.logs import configure_logging


def create_app_from_env() -> FastAPI:
    """Load the configuration and logging settings, set the GIL switch interval, build the app."""
    path = Path(os.environ.get("CHURNGUARD_CONFIG", str(DEFAULT_CONFIG_PATH)))
    configure_logging(load_logging_config(path.parent / "logging.yaml"))
    config = load_config(path)
    sys.setswitchinterval(config.serving.gil_switch_interval_ms / 1000)
    return create_app(config)


__all__ = ["create_app_from_env"]
