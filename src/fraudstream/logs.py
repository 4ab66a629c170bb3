"""Structured logging: JSON lines to stderr, or human text on a terminal.

Every record carries a UTC timestamp, level, logger, message and the pipeline stage that emitted
it (set with :func:`stage`). Extra fields passed as ``logger.info("...", extra={"rows": 10})``
are kept as JSON keys.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from fraudstream.config import LoggingConfig

_current_stage: contextvars.ContextVar[str | None] = contextvars.ContextVar("stage", default=None)
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "stage",
}


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Tag every log record emitted inside the block with ``stage=name``."""
    token = _current_stage.set(name)
    try:
        yield
    finally:
        _current_stage.reset(token)


class _StageFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.stage = _current_stage.get()
        return True


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a JSON line."""
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "stage": getattr(record, "stage", None),
            "msg": record.getMessage(),
        }
        payload.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS})
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class HumanFormatter(logging.Formatter):
    """Short, readable lines for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as ``time level [stage] message key=value``."""
        ts = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        stage_name = getattr(record, "stage", None)
        where = f"[{stage_name}] " if stage_name else ""
        extras = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD_ATTRS)
        line = f"{ts} {record.levelname:<7} {where}{record.getMessage()}"
        return f"{line}  {extras}" if extras else line


def configure_logging(config: LoggingConfig, stream: TextIO | None = None) -> None:
    """Install one stderr handler on the root logger according to ``config``."""
    target = stream if stream is not None else sys.stderr
    use_json = config.format == "json" or (config.format == "auto" and not target.isatty())
    handler = logging.StreamHandler(target)
    handler.setFormatter(JsonFormatter() if use_json else HumanFormatter())
    handler.addFilter(_StageFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(config.level)
    for name, level in config.quiet_loggers.items():
        logging.getLogger(name).setLevel(level)


__all__ = ["HumanFormatter", "JsonFormatter", "configure_logging", "stage"]
