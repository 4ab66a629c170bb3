"""The prediction log: every prediction recorded off the request path, none lost in an outage.

``submit`` hands a request's scores to an in-memory buffer bounded in rows (one lock, no I/O);
one daemon thread builds the rows and inserts them in batches. When the store fails, batches go
to the spool on disk (:mod:`churnguard.monitoring.spool`) and are replayed oldest-first once it
answers again, every ``retry_seconds``; a spool left by an earlier process is replayed at start.
Every row carries a unique ``record_id``, so a replay never stores a row twice.
"""

from __future__ import annotations

import itertools
import json
import logging
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

import numpy as np
from pydantic import BaseModel, TypeAdapter

from churnguard.api.metrics import ServiceMetrics
from churnguard.data.schema import FEATURE_COLUMNS, ID_COLUMN
from churnguard.monitoring.config import MonitoringConfig
from churnguard.monitoring.spool import Spool
from churnguard.monitoring.store import MonitoringStore, PredictionRow, StoreUnavailableError

logger = logging.getLogger(__name__)
_ROW = TypeAdapter(PredictionRow)
_NOT_FEATURES: set[str] = {ID_COLUMN}
#: A batch row held as columns takes about a tenth of the memory of a record object (measured
#: with tracemalloc: ~0.3 KB against ~2.9 KB), so the queue bound counts it as a tenth.
COLUMN_ROWS_PER_RECORD = 10
#: Batches the writer takes from the queue per round, at most (its built rows stay bounded).
_ROUND_BATCHES = 4
#: Rows the writer builds between two releases of the GIL.
_YIELD_ROWS = 64


class ScoredRequest(NamedTuple):
    """What one request scored; its rows are built later, on the writer thread.

    ``records`` are the validated records (mappings, or objects with the customer fields as
    attributes) and ``probabilities`` their churn probabilities, in the same order. A batch
    may give ``columns`` instead (one sequence per feature field, plus ``customerID`` when
    known, ``records`` then empty): a few lists instead of thousands of objects waiting in the
    queue, which keeps the garbage collector's work small, and the cheapest rows to build.
    ``variant`` names the experiment's model that scored them; ``shadow`` marks the
    challenger's background scores (not returned to the client). ``row_indices`` are the
    records' positions in the request when they are a subset of it (an A/B split batch).
    """

    request_id: str
    endpoint: str
    model_version: str
    model_alias: str | None
    threshold: float
    created_at: float  # unix time
    latency_ms: float
    records: Sequence[Any]
    probabilities: Sequence[float]
    variant: str = "champion"
    shadow: bool = False
    row_indices: Sequence[int] | None = None
    columns: Mapping[str, Sequence[Any]] | None = None


_Item = ScoredRequest | list[PredictionRow]


def _features(record: Any) -> tuple[dict[str, Any] | str, str | None]:
    if isinstance(record, BaseModel):
        # A validated request record: pydantic writes the JSON in one call (~4x json.dumps of a
        # dict built field by field, the largest share of the writer's time per row).
        return record.model_dump_json(exclude=_NOT_FEATURES), getattr(record, ID_COLUMN, None)
    if isinstance(record, Mapping):
        return {c: record[c] for c in FEATURE_COLUMNS}, record.get(ID_COLUMN)
    return {c: getattr(record, c) for c in FEATURE_COLUMNS}, getattr(record, ID_COLUMN, None)


def features_json(columns: Mapping[str, Sequence[Any]]) -> list[str]:
    """One compact JSON object of the feature fields per row, built column by column.

    A text column renders each distinct value once (``"Contract":"Two year"``), a numeric one
    maps ``repr`` (what ``json.dumps`` writes for finite numbers); then each row is one join:
    a fraction of the cost of serialising thousands of records one by one.

    Raises:
        ValueError: a number is NaN or infinite (JSON has no such value).
    """
    fragments = [_column_json(column, columns[column]) for column in FEATURE_COLUMNS]
    return ["{" + ",".join(parts) + "}" for parts in zip(*fragments, strict=True)]


def _column_json(column: str, values: Sequence[Any]) -> list[str]:
    prefix = json.dumps(column) + ":"
    kinds = set(map(type, values))
    if kinds <= {str}:
        rendered = {v: prefix + json.dumps(v) for v in set(values)}
        return list(map(rendered.__getitem__, values))
    if kinds <= {int, float} and bool(np.isfinite(np.asarray(values, dtype=np.float64)).all()):
        return [prefix + text for text in map(repr, values)]
    return [prefix + json.dumps(v, allow_nan=False) for v in values]


class _Buffer:
    """Submissions waiting for the writer, bounded in memory (record-sized rows).

    ``rows`` counts the queued rows; ``weight`` what bounds them: a row held as a record
    object counts 1 (~3 KB), a row of a batch given as columns ``1 / COLUMN_ROWS_PER_RECORD``
    (~0.3 KB: its values are shared list slots).
    """

    def __init__(self, capacity: int, batch_rows: int, stopping: threading.Event) -> None:
        self.capacity, self.batch_rows, self.rows, self.weight = capacity, batch_rows, 0, 0.0
        self._stopping = stopping
        self._items: deque[tuple[_Item, int, float]] = deque()
        self._ready = threading.Condition(threading.Lock())

    def offer(self, item: _Item, rows: int, weight: float) -> bool:
        """Queue ``item`` unless that would pass the bound or the log is stopping."""
        with self._ready:  # stopping is checked under the lock stop()'s last take() holds too
            if self.weight + weight > self.capacity or self._stopping.is_set():
                return False
            self._items.append((item, rows, weight))
            self.rows += rows
            self.weight += weight
            if self.rows >= self.batch_rows:
                self._ready.notify()
            return True

    def take(self, wait: float, limit: int | None = None) -> list[_Item]:
        """The oldest items, once a batch is full, on stop, or after ``wait`` seconds.

        With ``limit``, items up to that many rows (at least one item), so the rows the writer
        builds from them stay bounded however long the queue has grown; else everything.
        """
        with self._ready:
            if self.rows < self.batch_rows and not self._stopping.is_set():
                self._ready.wait(wait)
            items: list[_Item] = []
            taken = 0
            while self._items and (limit is None or not items or taken < limit):
                item, rows, weight = self._items.popleft()
                items.append(item)
                taken += rows
                self.rows -= rows
                self.weight -= weight
            if not self._items:
                self.rows, self.weight = 0, 0.0
            return items

    def wake(self) -> None:
        with self._ready:
            self._ready.notify()


class PredictionLog:
    """Record predictions in the serving store from a background thread, spooling in outages.

    Args:
        store_url: SQLAlchemy URL of the store (``serving.store_url``).
        config: Queue, batch, flush, spool and retry settings.
        metrics: Where queue depth, spooled, written and dropped records are counted.
    """

    def __init__(
        self, store_url: str, config: MonitoringConfig, metrics: ServiceMetrics | None = None
    ) -> None:
        self.config, self.metrics = config, metrics
        self.store = MonitoringStore(store_url)
        self.spool = Spool(config.spool_dir, config.spool_max_bytes)
        self._stopping = threading.Event()
        self._buffer = _Buffer(config.log_queue_size, config.log_batch_size, self._stopping)
        self._ids = itertools.count()
        self._prefix = secrets.token_hex(8)
        self._thread: threading.Thread | None = None
        self._healthy, self._retry_at = True, 0.0
        #: Since the spool was last empty: spooled, dropped, replayed (and outage: 1 or 0).
        self._backlog: Counter[str] = Counter()
        self._backlog_since = 0.0
        self._lock = threading.Lock()

    def start(self) -> None:
        """Index the spool left by an earlier run (replayed first) and start the writer."""
        try:
            self.spool.load()
        except OSError as exc:  # serve anyway: records that must be spooled are then counted
            logger.error("prediction spool not readable", extra={"reason": str(exc)})
        self._gauges()
        self._thread = threading.Thread(target=self._run, name="churnguard-predlog", daemon=True)
        self._thread.start()

    def submit(self, rows: ScoredRequest | Sequence[Mapping[str, Any]]) -> None:
        """Queue predictions for the store; never waits for I/O, never raises.

        Args:
            rows: A scored request (the routes' cheap form), or rows with the keys of
                :class:`~churnguard.monitoring.store.PredictionRow` (``record_id`` optional,
                ``created_at`` a datetime or unix time, ``features`` holding the 19 fields).

        Beyond ``log_queue_size`` queued rows, records go straight to the spool; beyond the
        spool's bound they are dropped and counted.
        """
        try:
            item: _Item = (
                rows
                if isinstance(rows, ScoredRequest)
                else [self._row(cast(Mapping[str, Any], r)) for r in rows]
            )
            count = len(item.probabilities) if isinstance(item, ScoredRequest) else len(item)
            columnar = isinstance(item, ScoredRequest) and item.columns is not None
            if self._buffer.offer(
                item, count, count / COLUMN_ROWS_PER_RECORD if columnar else count
            ):
                if self.metrics is not None:
                    self.metrics.log_queue_depth.set(self._buffer.rows)
                return
            self._to_spool(self._rows([item]))
        except Exception as exc:  # a bad submission must never fail the prediction answered
            logger.error("prediction records refused by the log", extra={"reason": str(exc)})
            count = len(rows.probabilities if isinstance(rows, ScoredRequest) else rows)
            self._dropped(count, "refused")

    def stop(self, timeout: float = 10.0) -> None:
        """Write everything queued to the store, or failing that to the spool, and stop."""
        self._stopping.set()
        self._buffer.wake()
        alive = False
        if self._thread is not None:
            self._thread.join(timeout)
            alive = self._thread.is_alive()
        if alive:
            logger.warning(
                "prediction log writer still busy at shutdown", extra={"timeout_s": timeout}
            )
        if left := self._buffer.take(0):  # submitted while stopping, or the writer is stuck
            self._to_spool(self._rows(left))
        self._gauges()
        if not alive:
            self.store.close()

    def _run(self) -> None:
        while True:
            stopping = self._stopping.is_set()
            try:
                taken = self._buffer.take(
                    self.config.log_flush_seconds, _ROUND_BATCHES * self.config.log_batch_size
                )
                self._deliver(self._rows(taken))
                self._replay()
            except Exception:  # keep the writer alive whatever happens to one round
                logger.exception("prediction log writer failed a round")
            self._gauges()
            if stopping and not self._buffer.rows:
                return

    def _row(self, row: Mapping[str, Any]) -> PredictionRow:
        created = row.get("created_at", time.time())
        ready = {
            **row,
            "record_id": row.get("record_id") or self._record_id(),
            "created_at": created
            if isinstance(created, datetime)
            else datetime.fromtimestamp(created, UTC),
            "features": _features(row["features"])[0],
        }
        return _ROW.validate_python(ready)

    def _record_id(self) -> str:
        return f"{self._prefix}-{next(self._ids):x}"

    def _rows(self, items: list[_Item]) -> list[PredictionRow]:
        rows: list[PredictionRow] = []
        yielded_at = 0
        for item in items:
            if not isinstance(item, ScoredRequest):
                rows.extend(item)
                continue
            try:
                rows.extend(self._scored_rows(item))
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                logger.error("prediction records refused by the log", extra={"reason": str(exc)})
                self._dropped(len(item.probabilities), "refused")
            if len(rows) - yielded_at >= _YIELD_ROWS:
                # Building rows is pure Python: hand the GIL back to the request threads
                # often, or a flush of a thousand single predictions delays them by
                # several switch intervals (5 ms each) at once.
                time.sleep(0)
                yielded_at = len(rows)
        return rows

    def _scored_rows(self, item: ScoredRequest) -> list[PredictionRow]:
        rows: list[PredictionRow] = []
        created = datetime.fromtimestamp(item.created_at, UTC)
        n = len(item.probabilities)
        positions = range(n) if item.row_indices is None else item.row_indices
        features_and_ids: Iterable[tuple[Any, Any]]
        if item.columns is not None:
            features_and_ids = zip(
                features_json(item.columns), item.columns.get(ID_COLUMN, [None] * n), strict=True
            )
        else:
            features_and_ids = map(_features, item.records)
        rows_in = zip(positions, features_and_ids, item.probabilities, strict=True)
        for index, (features, customer_id), probability in rows_in:
            p = float(probability)
            rows.append(
                {
                    "record_id": self._record_id(),
                    "request_id": item.request_id,
                    "row_index": index,
                    "customer_id": customer_id,
                    "model_version": item.model_version,
                    "model_alias": item.model_alias,
                    "created_at": created,
                    "features": features,
                    "churn_probability": p,
                    "churn": p >= item.threshold,
                    "latency_ms": item.latency_ms,
                    "endpoint": item.endpoint,
                    "variant": item.variant,
                    "shadow": item.shadow,
                }
            )
        return rows

    def _deliver(self, rows: list[PredictionRow]) -> None:
        size = self.config.log_batch_size
        for start in range(0, len(rows), size):
            batch = rows[start : start + size]
            if not self._healthy:
                self._to_spool(batch)
                continue
            try:
                self.store.write_predictions(batch)
            except StoreUnavailableError as exc:
                self._failed(exc)
                self._to_spool(batch)
            else:
                self._written(len(batch))

    def _replay(self) -> None:
        """Write spool segments back, oldest first, for at most one flush interval."""
        if not self._healthy:
            if time.monotonic() < self._retry_at:
                return
            try:
                self.store.create()  # also recreates the tables of a database restored empty
            except StoreUnavailableError as exc:
                self._failed(exc)
                return
            self._healthy = True
        deadline = time.monotonic() + self.config.log_flush_seconds
        while (segment := self.spool.oldest()) is not None and time.monotonic() < deadline:
            rows = self.spool.read(segment)
            if isinstance(rows, int):
                self._dropped(rows, "unreadable spool segment")
                continue
            try:
                self.store.write_predictions(rows)
            except StoreUnavailableError as exc:
                self._failed(exc)
                return
            self.spool.remove(segment)
            self._written(len(rows), replayed=True)
        if self.spool.oldest() is None and self._backlog:
            with self._lock:
                backlog, self._backlog = self._backlog, Counter()
            logger.info(
                "prediction store back: spool replayed"
                if backlog["outage"]
                else "prediction spool replayed",
                extra={
                    "seconds": round(time.monotonic() - self._backlog_since, 1),
                    "spooled": backlog["spooled"],
                    "replayed": backlog["replayed"],
                    "dropped": backlog["dropped"],
                },
            )

    def _count(self, key: str, value: int) -> int:
        """Add to the backlog's counts; return the count before."""
        with self._lock:
            if not self._backlog:
                self._backlog_since = time.monotonic()
            before = self._backlog[key]
            self._backlog[key] += value
            return before

    def _failed(self, exc: StoreUnavailableError) -> None:
        self._healthy = False
        self._retry_at = time.monotonic() + self.config.retry_seconds
        if not self._count("outage", 1):
            logger.warning(
                "prediction store unavailable: spooling records until it is back",
                extra={"reason": str(exc), "spool_dir": str(self.config.spool_dir)},
            )

    def _to_spool(self, rows: list[PredictionRow]) -> None:
        try:
            dropped = self.spool.append(rows)
        except (OSError, TypeError, ValueError) as exc:
            logger.error("prediction spool not writable", extra={"reason": str(exc)})
            dropped = len(rows)
        self._count("spooled", len(rows) - dropped)
        self._dropped(dropped, f"spool full ({self.config.spool_max_bytes} bytes) or not writable")
        self._gauges()

    def _dropped(self, count: int, reason: str) -> None:
        """Count lost records; warn once until the spool is empty again."""
        if count and not self._count("dropped", count):
            logger.warning("prediction records dropped", extra={"reason": reason})
        if count and self.metrics is not None:
            self.metrics.log_dropped.inc(count)

    def _written(self, count: int, *, replayed: bool = False) -> None:
        if replayed:
            self._count("replayed", count)
        if self.metrics is not None:
            self.metrics.log_written.inc(count)

    def _gauges(self) -> None:
        if self.metrics is not None:
            self.metrics.log_queue_depth.set(self._buffer.rows)
            self.metrics.log_spooled.set(self.spool.rows)


__all__ = ["COLUMN_ROWS_PER_RECORD", "PredictionLog", "ScoredRequest", "features_json"]
