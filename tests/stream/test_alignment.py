"""Event-time alignment across partitions: what may be scored now, what waits."""

from __future__ import annotations

import pytest

from fraudstream.feature_store.definition import FEATURE_DEFINITION
from fraudstream.feature_store.vocabulary import Aggregation, Entity, Feature
from fraudstream.stream_scorer.alignment import Aligner, cross_partition_delay_days

pytestmark = pytest.mark.unit

DAY = 86_400_000_000


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _aligner(clock: Clock, delay_days: int | None = 7, wait: float = 30.0) -> Aligner:
    return Aligner(None if delay_days is None else delay_days * DAY, wait, clock)


def _names(released: list) -> list[str]:
    return [h.item for h in released]


def test_the_declaration_needs_alignment_for_the_terminal_counts_seven_days_back() -> None:
    assert cross_partition_delay_days(FEATURE_DEFINITION) == 7
    customer_only = tuple(f for f in FEATURE_DEFINITION if f.entity != Entity.TERMINAL)
    assert cross_partition_delay_days(customer_only) is None
    labels_only = (Feature("T_FRAUDS", Aggregation.FRAUD_COUNT, Entity.TERMINAL, 28),)
    assert cross_partition_delay_days(labels_only) is None


def test_without_a_cross_partition_feature_everything_goes_at_once() -> None:
    aligner = _aligner(Clock(), delay_days=None)
    aligner.hold([("a", 0, 100 * DAY), ("b", 1, 0)])
    assert _names(aligner.release({})) == ["a", "b"]
    assert not aligner.held


def test_a_partition_more_than_the_delay_ahead_waits_for_the_slow_one() -> None:
    clock = Clock()
    aligner = _aligner(clock)
    aligner.hold([("slow-1", 0, 1 * DAY), ("fast-1", 1, 2 * DAY), ("fast-9", 1, 9 * DAY)])
    # fast-9 needs partition 0 done up to day 2; partition 0's next event is day 1 (in hand),
    # which goes first, and then nothing of partition 0 is known past day 1.
    assert _names(aligner.release({0: 1 * DAY - 1})) == ["slow-1", "fast-1"]
    assert _names(aligner.held) == ["fast-9"]
    # Still nothing newer from partition 0: held.
    assert _names(aligner.release({0: 1 * DAY, 1: 2 * DAY})) == []
    # Partition 0 reaches day 2 (scored by another worker, or arrives here): released.
    aligner.hold([("slow-3", 0, 3 * DAY)])
    assert _names(aligner.release({0: 1 * DAY, 1: 2 * DAY})) == ["slow-3", "fast-9"]
    assert aligner.misaligned == 0


def test_released_records_come_in_event_time_order_and_invalid_ones_at_once() -> None:
    aligner = _aligner(Clock())
    aligner.hold([("b", 1, 5 * DAY), ("bad", 2, None), ("a", 0, 4 * DAY), ("c", 1, 6 * DAY)])
    assert _names(aligner.release({})) == ["bad", "a", "b", "c"]


def test_a_partition_never_seen_holds_nothing_back() -> None:
    aligner = _aligner(Clock())
    aligner.hold([("x", 3, 50 * DAY)])
    assert _names(aligner.release({})) == ["x"]


def test_a_stalled_partition_holds_others_until_the_bound_then_they_are_misaligned() -> None:
    clock = Clock()
    aligner = _aligner(clock, wait=30.0)
    aligner.hold([("ahead", 1, 20 * DAY)])
    stalled = {0: 1 * DAY}  # a dead worker's partition
    assert _names(aligner.release(stalled)) == []
    clock.now = 29.0
    assert _names(aligner.release(stalled)) == []
    clock.now = 31.0
    assert _names(aligner.release(stalled)) == ["ahead"]
    assert aligner.misaligned == 1


def test_within_the_delay_partitions_are_not_held() -> None:
    aligner = _aligner(Clock())
    aligner.hold([("p1", 1, 7 * DAY)])
    # partition 0 is done up to exactly day 0: everything at or before t - 7 days is there
    assert _names(aligner.release({0: 0})) == ["p1"]
