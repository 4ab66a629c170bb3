"""Reading transaction files (CSV or Parquet) as they are, before validation types them.

The reader refuses what is not a table at all (an empty file, a binary file named ``.csv``, text
that is not UTF-8 CSV) with a message that names the file; everything else is handed to
:func:`fraudstream.transactions.validate.validate_transactions`, which reports bad values by
column and row.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fraudstream.errors import IngestionError

_SNIFF_BYTES = 8192
_PARQUET_MAGIC = b"PAR1"


def _read_csv(path: Path, shown: str) -> pd.DataFrame:
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if not head.strip():
        msg = f"{shown} is empty: expected a CSV file with a header row and transactions below it"
        raise IngestionError(msg)
    if head.startswith(_PARQUET_MAGIC) or b"\x00" in head:
        msg = f"{shown} is binary, not CSV text: export the transactions as CSV, or give a Parquet file the .parquet suffix"
        raise IngestionError(msg)
    try:
        return pd.read_csv(path, low_memory=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        reason = str(exc).strip().splitlines()[0][:200]
        msg = f"{shown} is not readable as UTF-8 CSV ({type(exc).__name__}: {reason}); check the file format"
        raise IngestionError(msg) from exc


def _read_parquet(path: Path, shown: str) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0][:200]
        msg = (
            f"{shown} is not a readable Parquet file ({reason}); check the file or export it as CSV"
        )
        raise IngestionError(msg) from exc


def read_transaction_file(path: Path, shown: str | None = None) -> pd.DataFrame:
    """Read a ``.csv`` or ``.parquet`` transaction file without judging its values.

    Args:
        path: The file; its suffix decides the format (``.parquet``, else CSV).
        shown: How errors name the file (default: ``path``).

    Raises:
        IngestionError: the file is missing, empty, binary where text was expected, or unreadable.
    """
    shown = shown or str(path)
    if path.is_dir():
        msg = f"{shown} is a folder: name the CSV or Parquet file inside it"
        raise IngestionError(msg)
    if not path.is_file():
        msg = f"{shown} does not exist: check the path (relative paths start at {Path.cwd()})"
        raise IngestionError(msg)
    if path.suffix.lower() == ".parquet":
        return _read_parquet(path, shown)
    return _read_csv(path, shown)


__all__ = ["read_transaction_file"]
