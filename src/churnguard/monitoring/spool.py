"""The prediction log's spool: records waiting on disk while the serving store is unavailable.

A segment is a JSON-lines file of prediction rows, written to a hidden temporary file, fsynced
and renamed into place: a crash leaves either a whole segment or a temporary file that the next
start deletes, never a half segment read as data. Segment names sort oldest first; the total
size is bounded and what does not fit is refused (the caller counts it as dropped).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from churnguard.monitoring.store import PredictionRow

logger = logging.getLogger(__name__)
_ROW = TypeAdapter(PredictionRow)
_IN_PROGRESS_SECONDS = 60.0


class Spool:
    """JSON-lines segments in ``folder``, replayed oldest first, at most ``max_bytes`` in all.

    Thread-safe: the request path spools when the queue is full, the writer when the store fails.
    """

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder, self.max_bytes = folder, max_bytes
        #: Bytes and rows of the indexed segments.
        self.bytes = self.rows = 0
        self._segments: dict[Path, tuple[int, int]] = {}  # path -> (bytes, rows)
        self._lock = threading.Lock()
        self._names = (f"{os.getpid()}-{secrets.token_hex(4)}-{i:08d}" for i in itertools.count())

    def load(self) -> None:
        """Index the segments already on disk; delete half-written temporary files.

        A temporary file younger than a minute may be another worker's segment being written
        (workers of one server can share the folder): it is left alone.
        """
        if not self.folder.is_dir():
            return
        for leftover in self.folder.glob(".*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                if time.time() - leftover.stat().st_mtime > _IN_PROGRESS_SECONDS:
                    leftover.unlink()
        for path in sorted(self.folder.glob("*.jsonl")):
            data = path.read_bytes()
            with self._lock:
                if path not in self._segments:
                    self._index(path, len(data), data.count(b"\n"))

    def append(self, rows: Sequence[PredictionRow]) -> int:
        """Write as many rows as the bound allows as one new segment.

        Returns:
            How many rows did not fit (the last ones).

        Raises:
            OSError: the segment could not be written; none of the rows was kept.
        """
        lines = [json.dumps(r | {"created_at": r["created_at"].isoformat()}) + "\n" for r in rows]
        with self._lock:  # one writer at a time keeps the bound exact
            room, kept = self.max_bytes - self.bytes, 0
            while kept < len(lines) and len(lines[kept]) <= room:  # JSON is ASCII: chars = bytes
                room -= len(lines[kept])
                kept += 1
            if kept:
                data = "".join(lines[:kept]).encode()
                self._index(self._write(data), len(data), kept)
            return len(lines) - kept

    def oldest(self) -> Path | None:
        """The segment to replay first, or None when the spool is empty."""
        with self._lock:
            return min(self._segments, default=None)

    def read(self, path: Path) -> list[PredictionRow] | int:
        """The rows of a segment; when it cannot be read, how many rows it held.

        An unreadable segment is renamed ``*.bad`` (kept for a person to look at) and forgotten;
        one that vanished (another worker sharing the folder replayed it) is just forgotten.
        """
        try:
            return [_ROW.validate_json(line) for line in path.read_bytes().splitlines()]
        except FileNotFoundError:
            return self._forget(path, None)
        except (OSError, ValidationError) as exc:
            logger.error(
                "unreadable prediction spool segment set aside",
                extra={"segment": str(path), "reason": str(exc).splitlines()[0]},
            )
            return self._forget(path, path.with_suffix(".bad"))

    def remove(self, path: Path) -> None:
        """Delete a segment whose rows are committed to the store."""
        self._forget(path, None)

    def _write(self, data: bytes) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{next(self._names)}.jsonl"
        final, temporary = self.folder / name, self.folder / f".{name}.tmp"
        try:
            with temporary.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            temporary.replace(final)
        except OSError:
            temporary.unlink(missing_ok=True)
            raise
        directory = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a crash
        finally:
            os.close(directory)
        return final

    def _index(self, path: Path, size: int, rows: int) -> None:
        self._segments[path] = (size, rows)
        self.bytes, self.rows = self.bytes + size, self.rows + rows

    def _forget(self, path: Path, aside: Path | None) -> int:
        with self._lock:
            size, rows = self._segments.pop(path, (0, 0))
            self.bytes, self.rows = self.bytes - size, self.rows - rows
        if aside is None:
            path.unlink(missing_ok=True)
        elif path.exists():
            path.replace(aside)
        return rows


__all__ = ["Spool"]
