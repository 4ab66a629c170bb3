"""fraudstream: score card transactions for fraud as they stream through Kafka, and run the whole life of the model."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fraudstream")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
