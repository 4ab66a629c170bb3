"""The ``fraudstream`` command line."""

from fraudstream.cli.app import app, main

__all__ = ["app", "main"]
