"""The ``churnguard`` command line."""

from churnguard.cli.app import app, main

__all__ = ["app", "main"]
