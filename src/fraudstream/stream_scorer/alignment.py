"""Event-time alignment across partitions: hold back what is too far ahead of the slowest one.

Transactions are keyed by card, so a card's events stay in one partition, in order. A terminal,
though, is visited by cards of every partition: a feature that counts a terminal's transactions
``delay`` days back needs every partition's transactions up to ``t - delay`` recorded before an
event at ``t`` is scored. In real time partitions are seconds apart; draining a backlog or
catching up after a crash, one partition can run days ahead of another (a broker answering one
partition's whole backlog in a fetch; a dead worker's partitions wait for the group). This module keeps
the rule exact, as Kafka Streams does with ``max.task.idle.ms``:

- each worker records, per partition, the latest event time it scored (in Redis, so workers see
  each other's partitions);
- an event at ``t`` is released for scoring only when every partition's next unscored event is
  later than ``t - delay`` (a partition with events in hand: its first one; otherwise: its
  recorded progress; a partition never seen yet does not hold anything back);
- held events are not acknowledged, so a crash re-delivers them; after
  ``partition_wait_max_seconds`` an event is released anyway and counted as ``misaligned``.

``delay`` comes from the feature declaration: the smallest delay of a windowed feature on another
entity than the partition key that reads transactions (labels carry their own times, so
label-only aggregations need no alignment). No such feature: nothing is ever held.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from fraudstream.feature_store.definition import FEATURE_DEFINITION
from fraudstream.feature_store.vocabulary import Aggregation, Entity, Feature

#: Aggregations that read only labels (stored with their own times): no alignment needed.
LABELS_ONLY: Final = frozenset(
    {
        Aggregation.FRAUD_COUNT,
        Aggregation.KNOWN_FRAUD_SHARE,
        Aggregation.SECONDS_SINCE_FIRST_KNOWN_FRAUD,
        Aggregation.SECONDS_SINCE_LAST_KNOWN_GENUINE,
    }
)
_DAY_US: Final = 86_400_000_000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def cross_partition_delay_days(
    definition: tuple[Feature, ...] = FEATURE_DEFINITION, key: Entity = Entity.CUSTOMER
) -> int | None:
    """The smallest delay of a feature reading other partitions' transactions; ``None``: none."""
    delays = [
        feature.delay_days
        for feature in definition
        if feature.entity is not None
        and feature.entity != key
        and feature.aggregation not in LABELS_ONLY
    ]
    return min(delays) if delays else None


def event_microseconds(moment: datetime) -> int:
    """Epoch microseconds of an event time (naive is UTC)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return (aware - _EPOCH) // timedelta(microseconds=1)


@dataclass
class Held:
    """One record waiting to be scored: its partition, its event time (``None``: not valid)."""

    item: Any
    partition: int
    time_us: int | None
    since: float


@dataclass
class Aligner:
    """Decides which held records may be scored now.

    Attributes:
        delay_us: The declaration's cross-partition delay in microseconds (``None``: no rule).
        wait_max_seconds: Longest a record is held back.
        clock: Monotonic seconds.
    """

    delay_us: int | None
    wait_max_seconds: float = 30.0
    clock: Callable[[], float] = time.monotonic
    held: list[Held] = field(default_factory=list)
    misaligned: int = 0

    @classmethod
    def from_definition(cls, wait_max_seconds: float) -> Aligner:
        """The aligner the feature declaration needs."""
        days = cross_partition_delay_days()
        return cls(None if days is None else days * _DAY_US, wait_max_seconds)

    def hold(self, items: Sequence[tuple[Any, int, int | None]]) -> None:
        """Add records (item, partition, event time in µs or ``None``) in arrival order."""
        now = self.clock()
        self.held.extend(Held(item, partition, time_us, now) for item, partition, time_us in items)

    def release(self, progress: dict[int, int]) -> list[Held]:
        """Remove and return what may be scored now, in event-time order.

        Args:
            progress: Per partition, the latest event time already scored (µs).
        """
        if not self.held:
            return []
        if self.delay_us is None:
            everything, self.held = self.held, []
            return everything
        invalid = [h for h in self.held if h.time_us is None]
        timed = sorted((h for h in self.held if h.time_us is not None), key=_time)
        waiting: dict[int, deque[int]] = defaultdict(deque)
        for h in timed:
            waiting[h.partition].append(_time(h))
        first_in_hand = {partition: times[0] for partition, times in waiting.items()}
        progress = dict(progress)
        expired_before = self.clock() - self.wait_max_seconds
        ready: list[Held] = []
        for position, h in enumerate(timed):
            t = _time(h)
            if not self._clear(t, h.partition, first_in_hand, progress):
                if h.since > expired_before:
                    self.held = timed[position:]
                    return invalid + ready
                self.misaligned += 1
            ready.append(h)
            times = waiting[h.partition]
            times.popleft()
            if times:
                first_in_hand[h.partition] = times[0]
            else:
                first_in_hand.pop(h.partition, None)
                progress[h.partition] = max(progress.get(h.partition, t), t)
        self.held = []
        return invalid + ready

    def _clear(
        self, t: int, own: int, first_in_hand: dict[int, int], progress: dict[int, int]
    ) -> bool:
        """Whether every other partition has nothing unscored at or before ``t - delay``."""
        bound = t - (self.delay_us or 0)
        for partition in first_in_hand.keys() | progress.keys():
            if partition == own:
                continue
            if partition in first_in_hand:
                if first_in_hand[partition] <= bound:
                    return False
            elif progress[partition] < bound:
                return False
        return True


def _time(held: Held) -> int:
    return held.time_us if held.time_us is not None else -1


__all__ = [
    "LABELS_ONLY",
    "Aligner",
    "Held",
    "cross_partition_delay_days",
    "event_microseconds",
]
