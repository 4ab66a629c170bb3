"""Which earlier labels each transaction can see: contiguous runs along an entity's timeline.

An earlier transaction ``j`` at ``t_j`` whose label is known at ``l_j`` is seen, for a window of
``w`` days with delay ``d``, by the entity's later transactions ``i`` at ``t_i`` with
``max(l_j, t_j + d days) <= t_i < t_j + (d + w) days``. Along the timeline (sorted by entity,
time, id) those are one contiguous run of positions ``[start_j, end_j)``, and ``end_j`` never
decreases with ``j``. So:

- how many labels a position sees is a difference array over the runs;
- the latest label it sees is a running maximum of "run ``j`` starts here" (the latest ``j``
  starting at or before a position has the furthest end: if it no longer covers the position,
  none does);
- the earliest label it sees is the first run, among those still open at the position, that has
  already started: a search over a sparse table of run starts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fraudstream.feature_store.timeline import DAY_NS, BoolArray, IntArray, Timeline

#: Below one label in this many positions, searching the labels' own window ends is cheaper
#: than searching (and caching) every position's.
_FEW = 8


@dataclass(frozen=True, slots=True)
class LabelRuns:
    """The labelled transactions of one kind and the run of positions that sees each.

    Attributes:
        position: Timeline position of each labelled transaction, increasing.
        start: First position that sees it (may be ``>= end``: then none does).
        end: First position, after ``start``, that no longer sees it; non-decreasing.
        size: Number of timeline positions.
    """

    position: IntArray
    start: IntArray
    end: IntArray
    size: int


def first_seen(
    timeline: Timeline, position: IntArray, label_ns: IntArray, delay_days: int
) -> IntArray:
    """For transactions at timeline ``position`` (with a label time): the first position that sees it.

    That is the entity's first later position at or after ``max(label, t + delay)``; the segment
    end when there is none.

    Args:
        timeline: The entity's timeline.
        position: Timeline positions of transactions whose label time is known (not NaT).
        label_ns: Per input row, when its label becomes known (int64 ns).
        delay_days: Days before the transaction the window ends.
    """
    time = timeline.time_ns[position]
    known_from = np.maximum(label_ns[timeline.rows[position]], time + delay_days * DAY_NS)
    seen = timeline.first_at_or_after(known_from, timeline.segment[position])
    return np.maximum(seen, position + 1)


def label_runs(
    timeline: Timeline, position: IntArray, start: IntArray, window_days: int, delay_days: int
) -> LabelRuns:
    """The runs of positions that see the labels of the transactions at ``position``.

    Args:
        timeline: The entity's timeline.
        position: Timeline positions of the labelled transactions, increasing.
        start: Their :func:`first_seen` positions for ``delay_days``.
        window_days: Window length.
        delay_days: Days before the transaction the window ends.
    """
    offset = (delay_days + window_days) * DAY_NS
    if position.size * _FEW < timeline.size:
        # Few labels (the frauds): search their window ends alone.
        segment = timeline.segment[position]
        end = timeline.first_at_or_after(timeline.time_ns[position] + offset, segment)
    else:
        # j's window has passed at i exactly when i's lookback window starts after j
        # (t_i >= t_j + offset): the first such i is a sorted search in the window starts, which
        # never decrease (and which window features already searched for).
        window_starts = timeline.first_after_shifted(offset)
        end = np.searchsorted(window_starts, position, side="right").astype(np.int64)
    return LabelRuns(position, start, end, timeline.size)


def seen_counts(runs: LabelRuns) -> IntArray:
    """Per position, how many of the labelled transactions it sees."""
    keep = runs.start < runs.end
    size = runs.size + 1
    change = np.bincount(runs.start[keep], minlength=size) - np.bincount(
        runs.end[keep], minlength=size
    )
    return np.cumsum(change[:-1]).astype(np.int64)


def latest_seen(runs: LabelRuns) -> IntArray:
    """Per position, the timeline position of the latest labelled transaction it sees, or -1."""
    keep = runs.start < runs.end
    index = np.arange(runs.position.size, dtype=np.int64)
    starting = np.full(runs.size, -1, dtype=np.int64)
    np.maximum.at(starting, runs.start[keep], index[keep])
    latest = np.maximum.accumulate(starting) if runs.size else starting
    seen = latest >= 0
    seen[seen] = runs.end[latest[seen]] > np.flatnonzero(seen)
    return np.where(seen, runs.position[np.maximum(latest, 0)], -1)


def earliest_seen(runs: LabelRuns, candidates: BoolArray) -> IntArray:
    """Per position, the timeline position of the earliest labelled transaction it sees, or -1.

    Only positions in ``candidates`` are searched (those that see at least one label); the others
    get -1.
    """
    earliest = np.full(runs.size, -1, dtype=np.int64)
    query = np.flatnonzero(candidates).astype(np.int64)
    if not query.size or not runs.position.size:
        return earliest
    # The runs still open at a position are those from the first with end > position on.
    first = np.searchsorted(runs.end, query, side="right").astype(np.int64)
    # Sparse table: level k holds the minimum start of runs [j, j + 2**k).
    levels = [runs.start]
    while 2 ** len(levels) <= runs.start.size:
        half = 2 ** (len(levels) - 1)
        levels.append(np.minimum(levels[-1][:-half], levels[-1][half:]))
    # Skip blocks of runs that all start after the position, largest blocks first.
    for k in range(len(levels) - 1, -1, -1):
        level = levels[k]
        inside = first < level.size
        skip = inside & (level[np.where(inside, first, 0)] > query)
        first += np.where(skip, 2**k, 0)
    found = first < runs.start.size
    at = np.where(found, first, 0)
    found &= (runs.start[at] <= query) & (runs.end[at] > query)
    earliest[query[found]] = runs.position[at[found]]
    return earliest


__all__ = [
    "LabelRuns",
    "earliest_seen",
    "first_seen",
    "label_runs",
    "latest_seen",
    "seen_counts",
]
