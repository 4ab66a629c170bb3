"""Small, safe file primitives: atomic writes and content hashes.

Every file fraudstream produces is written to a temporary sibling first and renamed into place, so
a crash or an error never leaves a half-written file where a complete one is expected.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel

from fraudstream.errors import ConfigError

_CHUNK = 1 << 20
_DEFAULT_MODE = 0o644


@contextlib.contextmanager
def atomic_path(destination: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``destination`` and move it into place on success.

    On any exception the temporary file is removed and ``destination`` is left untouched.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600 files; give the result the usual permissions (or keep the old ones).
    tmp.chmod(destination.stat().st_mode & 0o777 if destination.exists() else _DEFAULT_MODE)
    try:
        yield tmp
        tmp.replace(destination)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_paths(*destinations: Path) -> Iterator[list[Path]]:
    """Like :func:`atomic_path` for several files: all are moved into place, or none is.

    The renames happen only after the block succeeds, in the order given, so a failure while
    writing any of the files leaves every destination as it was.
    """
    with contextlib.ExitStack() as stack:
        temps = [stack.enter_context(atomic_path(d)) for d in reversed(destinations)]
        yield temps[::-1]


def write_text_atomic(destination: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``destination`` atomically."""
    with atomic_path(destination) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_model_json(
    destination: Path, model: BaseModel, *, significant_digits: int | None = None
) -> None:
    """Write a pydantic model as indented JSON, atomically.

    Args:
        destination: Where to write.
        model: What to write.
        significant_digits: Round every float to this many significant digits (a report tracked
            by DVC: summation order differs between CPUs in the last bits, which would otherwise
            change the lock file from one machine to the next).
    """
    if significant_digits is None:
        text = model.model_dump_json(indent=2)
    else:
        text = json.dumps(round_floats(model.model_dump(mode="json"), significant_digits), indent=2)
    write_text_atomic(destination, text + "\n")


def round_floats(value: Any, significant_digits: int) -> Any:
    """``value`` (JSON-like: dicts, lists, numbers) with every float rounded."""
    if isinstance(value, float):
        return float(f"{value:.{significant_digits}g}") if math.isfinite(value) else value
    if isinstance(value, dict):
        return {k: round_floats(v, significant_digits) for k, v in value.items()}
    if isinstance(value, list):
        return [round_floats(v, significant_digits) for v in value]
    return value


#: Table file suffixes and the format :func:`write_frame` takes for each.
FRAME_FORMATS = {".csv": "csv", ".parquet": "parquet"}


def frame_format(path: Path, option: str) -> str:
    """The table format of ``path`` from its suffix.

    Args:
        path: Where a table will be written.
        option: How the user gave the path (``--output``), for the message.

    Raises:
        ConfigError: the suffix is neither ``.csv`` nor ``.parquet``.
    """
    suffix = path.suffix.lower()
    if suffix not in FRAME_FORMATS:
        shown = f"suffix {path.suffix!r} is not supported" if path.suffix else "has no suffix"
        msg = f"{option} {path}: {shown}; name the file *.parquet or *.csv"
        raise ConfigError(msg)
    return FRAME_FORMATS[suffix]


def write_frame(path: Path, frame: pd.DataFrame, file_format: str) -> None:
    """Write a DataFrame as ``csv`` or ``parquet`` to ``path`` (not atomic by itself)."""
    writers: dict[str, Callable[[Path], None]] = {
        "csv": lambda p: frame.to_csv(p, index=False),
        "parquet": lambda p: frame.to_parquet(p, index=False),
    }
    if file_format not in writers:
        msg = f"cannot write {path}: format must be csv or parquet, not {file_format!r}"
        raise ValueError(msg)
    writers[file_format](path)


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


__all__ = [
    "FRAME_FORMATS",
    "atomic_path",
    "atomic_paths",
    "frame_format",
    "round_floats",
    "sha256_file",
    "write_frame",
    "write_model_json",
    "write_text_atomic",
]
