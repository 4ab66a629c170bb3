"""The replay's one merged sequence of records, in event time (pure, vectorised).

A transaction file becomes one sequence: each transaction at ``TX_DATETIME`` (topic
transactions), each label at ``TX_LABEL_DATETIME`` (topic labels), ordered by time, labels
before transactions at the same instant, then by ``TRANSACTION_ID``. Watermark records go on
the labels topic before the first transaction, whenever a transaction would otherwise find the
watermark behind its time, every ``watermark_every`` transactions without a labels record, and
once at the end.

Watermarks (the label source's promise "every label known at or before this time has been
sent") read ahead: after ``k`` labels were sent, the promise holds until just before the next
label's time (``label_time[k] - 1 µs``), or up to the end of the file once every label is out.
Every label carries, in a header, the watermark that holds right after it.

Times are whole microseconds since the epoch (the wire has no finer unit), as ``int64``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from fraudstream.transactions.contract import (
    TRANSACTION_ID,
    TX_DATETIME,
    TX_FRAUD,
    TX_LABEL_DATETIME,
)

Int64Array = npt.NDArray[np.int64]

#: Record kinds, in the order they sort at one instant (labels before transactions).
LABEL: Final = 0
TRANSACTION: Final = 1
WATERMARK: Final = 2
#: Changes whenever the sequence a file gives changes (checkpoints of another layout are void).
SEQUENCE_VERSION: Final = 1


class EmptySequenceError(ValueError):
    """Nothing of the file is at or after the start time."""


@dataclass(frozen=True)
class ReplaySequence:
    """The records of a replay in sending order, as parallel arrays.

    Attributes:
        kinds: ``LABEL``, ``TRANSACTION`` or ``WATERMARK`` per record.
        rows: The record's row in the transaction frame (``-1`` for a watermark).
        times_us: When the record happens in event time (a watermark: the next record's time).
        watermarks_us: For a label, the watermark of its header; for a watermark record, the
            time it promises; ``0`` for a transaction.
    """

    kinds: npt.NDArray[np.int8]
    rows: Int64Array
    times_us: Int64Array
    watermarks_us: Int64Array

    def __len__(self) -> int:
        return len(self.kinds)

    def count(self, kind: int, start: int = 0, stop: int | None = None) -> int:
        """How many records of ``kind`` lie in ``[start, stop)``."""
        return int(np.count_nonzero(self.kinds[start:stop] == kind))


def microseconds(values: pd.Series) -> Int64Array:
    """Datetimes (datetime64, naive) as whole microseconds since the epoch, rounded down."""
    array = values.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    return np.floor_divide(array, 1000)


def to_microseconds(moment: datetime) -> int:
    """A (naive) datetime as microseconds since the epoch."""
    return int(pd.Timestamp(moment).value) // 1000


def _sorted_rows(selected: Int64Array, times: Int64Array, ids: Int64Array) -> Int64Array:
    """``selected`` rows ordered by (time, transaction id)."""
    order = np.lexsort((ids[selected], times[selected]))
    return selected[order]


def _merge(
    tx_rows: Int64Array, tx_times: Int64Array, label_rows: Int64Array, label_times: Int64Array
) -> tuple[npt.NDArray[np.int8], Int64Array, Int64Array]:
    """Labels and transactions in one order: time, labels first, then transaction id order.

    Both inputs are already sorted by (time, id), so a stable sort on (time, kind) keeps the id
    order inside each kind.
    """
    kinds = np.concatenate(
        [np.full(len(label_rows), LABEL, np.int8), np.full(len(tx_rows), TRANSACTION, np.int8)]
    )
    rows = np.concatenate([label_rows, tx_rows])
    times = np.concatenate([label_times, tx_times])
    order = np.lexsort((np.arange(len(kinds)), kinds, times))
    return kinds[order], rows[order], times[order]


def _watermark_positions(
    kinds: npt.NDArray[np.int8], times: Int64Array, promised: Int64Array, every: int
) -> tuple[Int64Array, Int64Array]:
    """Where watermark records go (inserted before these positions) and what each promises."""
    is_label = kinds == LABEL
    labels_before = np.cumsum(is_label) - is_label
    tx_positions = np.flatnonzero(kinds == TRANSACTION)
    if len(tx_positions) == 0:
        return tx_positions, tx_positions
    tx_before = np.cumsum(kinds == TRANSACTION) - (kinds == TRANSACTION)
    groups = labels_before[tx_positions]
    # transactions since the last label (a group starts right after each label)
    first_of_group = np.r_[True, groups[1:] != groups[:-1]]
    group_start = np.maximum.accumulate(np.where(first_of_group, tx_before[tx_positions], 0))
    since_label = tx_before[tx_positions] - group_start
    current = promised[groups]
    needed = (since_label > 0) & (since_label % every == 0)
    needed |= times[tx_positions] > current
    needed[0] = True
    at = tx_positions[needed]
    return at, promised[labels_before[at]]


def build_sequence(
    frame: pd.DataFrame,
    *,
    start: datetime | None = None,
    limit: int | None = None,
    watermark_every: int = 200,
) -> ReplaySequence:
    """The records a replay of ``frame`` sends, in order.

    Args:
        frame: Validated transactions (``TX_LABEL_DATETIME`` present when ``TX_FRAUD`` is; a
            frame without ``TX_FRAUD`` gives no labels).
        start: Keep transactions at or after it and labels whose label time is at or after it.
        limit: Stop after this many transactions (labels up to that point are kept).
        watermark_every: A watermark record after at most this many transactions without a
            record on the labels topic.

    Raises:
        EmptySequenceError: nothing is left to send (``start`` after the end of the file).
    """
    ids = frame[TRANSACTION_ID].to_numpy(np.int64)
    tx_times = microseconds(frame[TX_DATETIME])
    from_us = to_microseconds(start) if start is not None else np.iinfo(np.int64).min
    tx_rows = _sorted_rows(np.flatnonzero(tx_times >= from_us), tx_times, ids)
    if TX_FRAUD in frame.columns:
        label_times = microseconds(frame[TX_LABEL_DATETIME])
        label_rows = _sorted_rows(np.flatnonzero(label_times >= from_us), label_times, ids)
    else:
        label_times = np.zeros(0, np.int64)
        label_rows = np.zeros(0, np.int64)
    if len(tx_rows) == 0 and len(label_rows) == 0:
        end = max(tx_times.max(initial=0), label_times.max(initial=0))
        msg = f"no transaction or label at or after {start} (the file ends at {pd.Timestamp(int(end), unit='us')})"
        raise EmptySequenceError(msg)
    sorted_label_times = label_times[label_rows]
    end_us = int(max(tx_times[tx_rows].max(initial=0), sorted_label_times.max(initial=0)))
    # promised[k]: the watermark once k labels have been sent
    promised = np.append(sorted_label_times - 1, end_us).astype(np.int64)
    kinds, rows, times = _merge(tx_rows, tx_times[tx_rows], label_rows, sorted_label_times)
    if limit is not None and limit < len(tx_rows):
        cut = int(np.flatnonzero(kinds == TRANSACTION)[limit - 1]) + 1
        kinds, rows, times = kinds[:cut], rows[:cut], times[:cut]
    is_label = kinds == LABEL
    headers = np.where(is_label, promised[np.cumsum(is_label)], 0)
    at, values = _watermark_positions(kinds, times, promised, watermark_every)
    labels_sent = int(np.count_nonzero(is_label))
    return ReplaySequence(
        kinds=np.append(np.insert(kinds, at, WATERMARK), np.int8(WATERMARK)).astype(np.int8),
        rows=np.append(np.insert(rows, at, -1), -1).astype(np.int64),
        times_us=np.append(np.insert(times, at, times[at]), times[-1]).astype(np.int64),
        watermarks_us=np.append(np.insert(headers, at, values), promised[labels_sent]).astype(
            np.int64
        ),
    )


__all__ = [
    "LABEL",
    "SEQUENCE_VERSION",
    "TRANSACTION",
    "WATERMARK",
    "EmptySequenceError",
    "ReplaySequence",
    "build_sequence",
    "microseconds",
    "to_microseconds",
]
