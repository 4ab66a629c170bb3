"""Per-entity timelines: sorted arrays that turn every window into two binary searches.

All transactions are sorted by ``(entity, TX_DATETIME, TRANSACTION_ID)``; a position is one
transaction. Each position gets an int64 key ``segment * stride + time rank`` (the dense entity
index and the rank of its time among all distinct times), so keys increase along the timeline
and "the first transaction of this entity at or after time q" is one ``np.searchsorted``. Times
are ranked rather than used raw so that keys stay exact in int64 at any time resolution and any
number of entities.

Window sums use prefix sums and window maxima a sparse table; label-based windows are in
:mod:`fraudstream.feature_store.known_labels`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

DAY_NS: Final = 86_400 * 10**9
#: Above this total (in cents) exact integer prefix sums could overflow int64.
_MAX_EXACT_CENTS: Final = 2**62


@dataclass(frozen=True, slots=True)
class Clock:
    """The global event order ``(time, id)`` and the rank of every time among distinct times.

    Attributes:
        order: Input row of each event, in event order.
        position: Event-order position of each input row (the inverse of ``order``).
        time_ns: Event time (int64 ns), in input order.
        sorted_times: Event times in event order.
        time_rank: Index of each event's time in ``unique_times``, in input order.
        unique_times: Sorted distinct event times.
    """

    order: IntArray
    position: IntArray
    time_ns: IntArray
    sorted_times: IntArray
    time_rank: IntArray
    unique_times: IntArray

    def rank_after(self, offset_ns: int) -> IntArray:
        """Per event (event order): how many distinct times are <= its time - ``offset_ns``."""
        # The queries are sorted, which keeps numpy's binary search cache-friendly.
        shifted = self.sorted_times - offset_ns
        return np.searchsorted(self.unique_times, shifted, side="right").astype(np.int64)


def build_clock(time_ns: IntArray, ids: IntArray) -> Clock:
    """Order events by ``(time_ns, ids)`` and rank their times (at least one event)."""
    # Two stable sorts instead of np.lexsort: on files already in id/time order both are
    # near-linear (timsort on presorted runs), several times faster than lexsort.
    by_id = np.argsort(ids, kind="stable")
    order = by_id[np.argsort(time_ns[by_id], kind="stable")].astype(np.int64)
    sorted_times = time_ns[order]
    is_new = np.empty(sorted_times.size, dtype=np.bool_)
    is_new[0] = True
    np.not_equal(sorted_times[1:], sorted_times[:-1], out=is_new[1:])
    position = np.empty_like(order)
    position[order] = np.arange(order.size, dtype=np.int64)
    time_rank = (np.cumsum(is_new) - 1)[position]
    return Clock(order, position, time_ns, sorted_times, time_rank, sorted_times[is_new])


@dataclass(frozen=True, slots=True)
class Timeline:
    """One entity kind's transactions sorted by ``(entity, time, id)``.

    Attributes:
        rows: Input row of each position.
        time_ns: Time of each position.
        segment: Dense index of each position's entity (0, 1, ... along the timeline).
        keys: ``segment * stride + time rank``, non-decreasing along the timeline.
        clock: The shared event order and time ranks.
        event_position: Event-order position of each timeline position.
    """

    rows: IntArray
    time_ns: IntArray
    segment: IntArray
    keys: IntArray
    clock: Clock
    event_position: IntArray
    #: Window starts already searched, by offset (several features share a boundary).
    _starts: dict[int, IntArray] = field(default_factory=dict, repr=False, compare=False)

    @property
    def size(self) -> int:
        """Number of positions (transactions)."""
        return int(self.rows.size)

    def first_at_or_after(self, query_ns: IntArray, segment: IntArray) -> IntArray:
        """First position of ``segment`` with time >= ``query_ns`` (the segment end if none)."""
        # Searching sorted queries is several times faster than random ones (cache misses).
        by_time = np.argsort(query_ns)
        rank = np.empty(query_ns.size, dtype=np.int64)
        rank[by_time] = np.searchsorted(self.clock.unique_times, query_ns[by_time], side="left")
        stride = self.clock.unique_times.size + 1
        return np.searchsorted(self.keys, segment * stride + rank, side="left").astype(np.int64)

    def first_after_shifted(self, offset_ns: int) -> IntArray:
        """Per position: first position of its entity with time > its time - ``offset_ns``."""
        if offset_ns not in self._starts:
            rank = self.clock.rank_after(offset_ns)[self.event_position]
            stride = self.clock.unique_times.size + 1
            # Along the timeline these keys never decrease: a sorted search, cache-friendly.
            query = self.segment * stride + rank
            self._starts[offset_ns] = np.searchsorted(self.keys, query).astype(np.int64)
        return self._starts[offset_ns]

    def previous_gap_ns(self) -> tuple[IntArray, BoolArray]:
        """Time since the entity's previous transaction, and whether there is one."""
        gap = np.zeros(self.size, dtype=np.int64)
        has_previous = np.zeros(self.size, dtype=np.bool_)
        if self.size > 1:
            np.equal(self.segment[1:], self.segment[:-1], out=has_previous[1:])
            gap[1:] = self.time_ns[1:] - self.time_ns[:-1]
        return gap, has_previous


def _stable_argsort(values: IntArray) -> IntArray:
    """Stable argsort; ids spanning fewer than 65,536 values sort in linear time (radix sort)."""
    low, high = int(values.min()), int(values.max())
    if high - low < 2**16:
        return np.argsort((values - low).astype(np.uint16), kind="stable").astype(np.int64)
    return np.argsort(values, kind="stable").astype(np.int64)


def build_timeline(clock: Clock, entity: IntArray) -> Timeline:
    """Sort events by ``(entity, time, id)``; ``entity`` holds one id per input row."""
    in_order = entity[clock.order]
    # The stable sort keeps the (time, id) order within an entity.
    permutation = _stable_argsort(in_order)
    rows = clock.order[permutation]
    sorted_entity = in_order[permutation]
    is_new = np.ones(rows.size, dtype=np.bool_)
    np.not_equal(sorted_entity[1:], sorted_entity[:-1], out=is_new[1:])
    segment = np.cumsum(is_new) - 1
    stride = clock.unique_times.size + 1
    keys = segment * stride + clock.time_rank[rows]
    return Timeline(rows, clock.time_ns[rows], segment, keys, clock, permutation)


def window_bounds(
    timeline: Timeline, window_days: int, delay_days: int, *, include_current: bool
) -> tuple[IntArray, IntArray]:
    """Positions ``[lo, hi)`` of each transaction's window ``(t - (d + w) days, t - d days]``.

    With ``delay_days == 0`` the window ends at the transaction itself: later transactions at the
    same instant are left out, and the transaction is in only if ``include_current``.
    """
    if delay_days == 0:
        hi = np.arange(timeline.size, dtype=np.int64) + (1 if include_current else 0)
    else:
        hi = timeline.first_after_shifted(delay_days * DAY_NS)
    lo = timeline.first_after_shifted((delay_days + window_days) * DAY_NS)
    return lo, hi


def range_maxima(values: FloatArray, lo: IntArray, hi: IntArray) -> FloatArray:
    """``max(values[lo:hi])`` per query; ``-inf`` where the range is empty.

    A sparse table built one level at a time: a range of length ``n`` is covered by two blocks of
    ``2**floor(log2(n))`` values, and only the current level is kept in memory.
    """
    length = hi - lo
    out = np.full(length.size, -np.inf, dtype=np.float64)
    asked = np.flatnonzero(length > 0)
    # floor(log2(length)) per query, then the queries grouped by it (a linear sort of small ints).
    level_of = (np.frexp(length[asked].astype(np.float64))[1] - 1).astype(np.uint8)
    by_level = asked[np.argsort(level_of, kind="stable")]
    ends = np.cumsum(np.bincount(level_of))
    level, first = values, 0
    for k, last in enumerate(ends):
        span = 1 << k
        if k:
            level = np.maximum(level[: -span // 2], level[span // 2 :])
        asks = by_level[first:last]
        out[asks] = np.maximum(level[lo[asks]], level[hi[asks] - span])
        first = last
    return out


@dataclass(frozen=True, slots=True)
class PrefixSums:
    """Prefix sums of amounts along a timeline, exact for amounts in cents.

    Amounts are split into whole cents (summed exactly in int64) and a float remainder (zero for
    amounts with two decimals), so window sums do not drift with the length of the file.
    """

    cents: IntArray
    remainder: FloatArray

    def between(self, lo: IntArray, hi: IntArray) -> FloatArray:
        """Sum of the amounts at positions ``[lo, hi)``."""
        whole = (self.cents[hi] - self.cents[lo]).astype(np.float64) / 100.0
        return whole + (self.remainder[hi] - self.remainder[lo])


def prefix_sums(amounts: FloatArray) -> PrefixSums:
    """Build :class:`PrefixSums` of ``amounts`` (finite, in timeline order)."""
    scaled = np.rint(amounts * 100.0)
    if float(np.abs(scaled).sum()) >= _MAX_EXACT_CENTS:
        scaled = np.zeros_like(amounts)
    cents = np.zeros(amounts.size + 1, dtype=np.int64)
    np.cumsum(scaled.astype(np.int64), out=cents[1:])
    remainder = np.zeros(amounts.size + 1, dtype=np.float64)
    np.cumsum(amounts - scaled / 100.0, out=remainder[1:])
    return PrefixSums(cents, remainder)


__all__ = [
    "DAY_NS",
    "Clock",
    "PrefixSums",
    "Timeline",
    "build_clock",
    "build_timeline",
    "prefix_sums",
    "range_maxima",
    "window_bounds",
]
