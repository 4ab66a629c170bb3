"""The offline feature computation: every declared feature for a whole file, vectorised.

:func:`compute_features` reads the declaration (:mod:`fraudstream.feature_store.definition`) and
has one implementation per :class:`~fraudstream.feature_store.definition.Aggregation`, none per
feature. It follows the point-in-time rule of the declaration exactly:

- events are ordered by ``(TX_DATETIME, TRANSACTION_ID)``; the features of transaction ``i`` at
  ``t`` use only transactions ordered at or before ``i`` (a tie in time is broken by the id);
- a window of ``w`` days with delay ``d`` covers ``(t - (d + w) days, t - d days]``;
- a fraud counts only if its ``TX_LABEL_DATETIME <= t``; the current transaction's own label is
  never used. A missing (NaT) label time means the label is never known.

Labels: a frame without ``TX_LABEL_DATETIME`` gets label times ``TX_DATETIME`` + the default label
delay (:func:`fraudstream.transactions.labels.with_label_times`). A frame without ``TX_FRAUD``
(events to score, no labels) has no known fraud: label-based features are all 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fraudstream.feature_store.definition import (
    DEFAULT_LABEL_DELAY_DAYS,
    FEATURE_DEFINITION,
    feature_names,
)
from fraudstream.feature_store.events import Events, read_events
from fraudstream.feature_store.known_labels import (
    LabelRuns,
    earliest_seen,
    first_seen,
    label_runs,
    latest_seen,
    seen_counts,
)
from fraudstream.feature_store.timeline import (
    DAY_NS,
    FloatArray,
    IntArray,
    PrefixSums,
    Timeline,
    build_clock,
    build_timeline,
    prefix_sums,
    range_maxima,
    window_bounds,
)
from fraudstream.feature_store.vocabulary import Aggregation, Entity, Feature
from fraudstream.transactions.contract import TRANSACTION_ID

_HOUR_NS = 3_600 * 10**9
#: 1970-01-01 was a Thursday (weekday 3, Monday being 0).
_EPOCH_WEEKDAY = 3
_LAST_NIGHT_HOUR = 6


@dataclass
class _Context:
    """The events, one timeline per entity, and results shared by several features."""

    events: Events
    timelines: dict[Entity, Timeline]
    _sums: dict[Entity, PrefixSums] = field(default_factory=dict)
    _bounds: dict[tuple[Entity, int, int, bool], tuple[IntArray, IntArray]] = field(
        default_factory=dict
    )
    _runs: dict[tuple[Entity, str, int, int], LabelRuns] = field(default_factory=dict)
    _seen: dict[tuple[Entity, str, int], tuple[IntArray, IntArray]] = field(default_factory=dict)

    def bounds(self, feature: Feature, *, include_current: bool) -> tuple[IntArray, IntArray]:
        entity = _entity(feature)
        key = (entity, feature.window_days, feature.delay_days, include_current)
        if key not in self._bounds:
            self._bounds[key] = window_bounds(
                self.timelines[entity],
                feature.window_days,
                feature.delay_days,
                include_current=include_current,
            )
        return self._bounds[key]

    def sums(self, entity: Entity) -> PrefixSums:
        if entity not in self._sums:
            self._sums[entity] = prefix_sums(self.events.amount[self.timelines[entity].rows])
        return self._sums[entity]

    def runs(self, feature: Feature, kind: str) -> LabelRuns | None:
        """Label runs of the known frauds, genuine or all labelled transactions (``kind``).

        ``None`` for a file without labels (no label is ever known).
        """
        entity, window, delay = _entity(feature), feature.window_days, feature.delay_days
        key = (entity, kind, window, delay)
        if key not in self._runs:
            seen = self._first_seen(entity, kind, delay)
            if seen is None:
                return None
            self._runs[key] = label_runs(self.timelines[entity], *seen, window, delay)
        return self._runs[key]

    def _first_seen(
        self, entity: Entity, kind: str, delay: int
    ) -> tuple[IntArray, IntArray] | None:
        """Positions of the ``kind`` transactions and where each label is first seen."""
        events = self.events
        if events.is_fraud is None or events.is_genuine is None or events.label_ns is None:
            return None
        masks = {"fraud": events.is_fraud, "genuine": events.is_genuine}
        masks["labelled"] = masks["fraud"] | masks["genuine"]
        # Where a label is first seen depends on the delay only: search once per delay, for the
        # frauds alone (few) until a feature needs every label.
        scope = (
            "fraud"
            if kind == "fraud" and (entity, "labelled", delay) not in self._seen
            else "labelled"
        )
        timeline = self.timelines[entity]
        if (entity, scope, delay) not in self._seen:
            position = np.flatnonzero(masks[scope][timeline.rows]).astype(np.int64)
            start = first_seen(timeline, position, events.label_ns, delay)
            self._seen[entity, scope, delay] = (position, start)
        position, start = self._seen[entity, scope, delay]
        keep = masks[kind][timeline.rows[position]]
        return position[keep], start[keep]

    def to_input_order(self, feature: Feature, values: FloatArray) -> FloatArray:
        out = np.empty(values.size, dtype=np.float64)
        out[self.timelines[_entity(feature)].rows] = values
        return out


def _entity(feature: Feature) -> Entity:
    if feature.entity is None:  # excluded by Feature's own validation
        msg = f"feature {feature.name!r} has no entity"
        raise ValueError(msg)
    return feature.entity


def _ratio(numerator: FloatArray, denominator: FloatArray, empty: float) -> FloatArray:
    """``numerator / denominator``, and ``empty`` where the denominator is 0."""
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, numerator / safe, empty)


def _amount(_: Feature, ctx: _Context) -> FloatArray:
    return ctx.events.amount.copy()


def _weekend(_: Feature, ctx: _Context) -> FloatArray:
    weekday = (np.floor_divide(ctx.events.time_ns, DAY_NS) + _EPOCH_WEEKDAY) % 7
    return (weekday >= 5).astype(np.float64)


def _night(_: Feature, ctx: _Context) -> FloatArray:
    hour = np.floor_divide(ctx.events.time_ns, _HOUR_NS) % 24
    return (hour <= _LAST_NIGHT_HOUR).astype(np.float64)


def _count(feature: Feature, ctx: _Context) -> FloatArray:
    lo, hi = ctx.bounds(feature, include_current=True)
    return ctx.to_input_order(feature, (hi - lo).astype(np.float64))


def _mean_amount(feature: Feature, ctx: _Context) -> FloatArray:
    lo, hi = ctx.bounds(feature, include_current=True)
    total = ctx.sums(_entity(feature)).between(lo, hi)
    return ctx.to_input_order(feature, _ratio(total, (hi - lo).astype(np.float64), 0.0))


def _usual_mean(feature: Feature, ctx: _Context) -> FloatArray:
    """Mean amount of the earlier transactions in the window (0 when there are none)."""
    lo, hi = ctx.bounds(feature, include_current=False)
    return _ratio(ctx.sums(_entity(feature)).between(lo, hi), (hi - lo).astype(np.float64), 0.0)


def _amount_ratio(feature: Feature, ctx: _Context) -> FloatArray:
    amount = ctx.events.amount[ctx.timelines[_entity(feature)].rows]
    return ctx.to_input_order(feature, _ratio(amount, _usual_mean(feature, ctx), 1.0))


def _recent_max_amount_ratio(feature: Feature, ctx: _Context) -> FloatArray:
    timeline = ctx.timelines[_entity(feature)]
    recent_lo = timeline.first_after_shifted(feature.delay_days * DAY_NS)
    here = np.arange(timeline.size, dtype=np.int64)
    recent_max = range_maxima(ctx.events.amount[timeline.rows], recent_lo, here)
    usual = _usual_mean(feature, ctx)
    ratio = _ratio(np.maximum(recent_max, 0.0), usual, 1.0)
    return ctx.to_input_order(feature, np.where(recent_lo < here, ratio, 1.0))


def _seconds_since_previous(feature: Feature, ctx: _Context) -> FloatArray:
    gap_ns, has_previous = ctx.timelines[_entity(feature)].previous_gap_ns()
    cap_ns = feature.window_days * DAY_NS
    capped = np.where(has_previous, np.minimum(gap_ns, cap_ns), cap_ns)
    return ctx.to_input_order(feature, capped / 1e9)


def _seen(feature: Feature, ctx: _Context, kind: str) -> FloatArray:
    """How many earlier transactions of ``kind`` in the window each position sees (known)."""
    runs = ctx.runs(feature, kind)
    if runs is None:
        return np.zeros(ctx.timelines[_entity(feature)].size, dtype=np.float64)
    return seen_counts(runs).astype(np.float64)


def _fraud_count(feature: Feature, ctx: _Context) -> FloatArray:
    return ctx.to_input_order(feature, _seen(feature, ctx, "fraud"))


def _fraud_risk(feature: Feature, ctx: _Context) -> FloatArray:
    lo, hi = ctx.bounds(feature, include_current=False)
    risk = _ratio(_seen(feature, ctx, "fraud"), (hi - lo).astype(np.float64), 0.0)
    return ctx.to_input_order(feature, risk)


def _known_fraud_share(feature: Feature, ctx: _Context) -> FloatArray:
    share = _ratio(_seen(feature, ctx, "fraud"), _seen(feature, ctx, "labelled"), 0.0)
    return ctx.to_input_order(feature, share)


def _seconds_since_seen(feature: Feature, ctx: _Context, kind: str, *, first: bool) -> FloatArray:
    timeline = ctx.timelines[_entity(feature)]
    cap = float(feature.window_days * 86_400)
    runs = ctx.runs(feature, kind)
    if runs is None:
        return np.full(timeline.size, cap)
    seen = latest_seen(runs)
    if first:
        seen = earliest_seen(runs, seen >= 0)
    gap_ns = timeline.time_ns - timeline.time_ns[np.maximum(seen, 0)]
    return ctx.to_input_order(feature, np.where(seen >= 0, gap_ns / 1e9, cap))


def _seconds_since_first_known_fraud(feature: Feature, ctx: _Context) -> FloatArray:
    return _seconds_since_seen(feature, ctx, "fraud", first=True)


def _seconds_since_last_known_genuine(feature: Feature, ctx: _Context) -> FloatArray:
    return _seconds_since_seen(feature, ctx, "genuine", first=False)


#: One implementation per aggregation kind; values come back in input row order.
_AGGREGATIONS: dict[Aggregation, Callable[[Feature, _Context], FloatArray]] = {
    Aggregation.AMOUNT: _amount,
    Aggregation.WEEKEND: _weekend,
    Aggregation.NIGHT: _night,
    Aggregation.COUNT: _count,
    Aggregation.MEAN_AMOUNT: _mean_amount,
    Aggregation.AMOUNT_RATIO: _amount_ratio,
    Aggregation.RECENT_MAX_AMOUNT_RATIO: _recent_max_amount_ratio,
    Aggregation.SECONDS_SINCE_PREVIOUS: _seconds_since_previous,
    Aggregation.FRAUD_COUNT: _fraud_count,
    Aggregation.FRAUD_RISK: _fraud_risk,
    Aggregation.KNOWN_FRAUD_SHARE: _known_fraud_share,
    Aggregation.SECONDS_SINCE_FIRST_KNOWN_FRAUD: _seconds_since_first_known_fraud,
    Aggregation.SECONDS_SINCE_LAST_KNOWN_GENUINE: _seconds_since_last_known_genuine,
}


def compute_features(
    transactions: pd.DataFrame,
    definition: tuple[Feature, ...] = FEATURE_DEFINITION,
    *,
    default_label_delay_days: float = DEFAULT_LABEL_DELAY_DAYS,
) -> pd.DataFrame:
    """Compute every feature of ``definition`` for every transaction, point in time.

    Args:
        transactions: Transactions in the contract's layout, in any row order. The labels
            (``TX_FRAUD``, ``TX_LABEL_DATETIME``) are optional; see the module docstring.
        definition: The features to compute, in output order.
        default_label_delay_days: Label delay assumed when ``TX_LABEL_DATETIME`` is absent.

    Returns:
        ``TRANSACTION_ID`` (int64) then one float64 column per feature, one row per input row in
        the input order, with the input's index.

    Raises:
        DataValidationError: A required column is missing or holds unusable values.
    """
    names = feature_names(definition)
    entities = {f.entity for f in definition if f.entity is not None}
    events = read_events(transactions, entities, default_label_delay_days)
    # One (features x rows) block, handed to pandas without a copy.
    values = np.zeros((len(names), events.ids.size), dtype=np.float64)
    if events.ids.size:
        clock = build_clock(events.time_ns, events.ids)
        timelines = {e: build_timeline(clock, events.entity_ids[e]) for e in entities}
        ctx = _Context(events, timelines)
        for row, feature in enumerate(definition):
            values[row] = _AGGREGATIONS[feature.aggregation](feature, ctx)
    frame = pd.DataFrame(values.T, index=transactions.index, columns=list(names), copy=False)
    frame.insert(0, TRANSACTION_ID, events.ids)
    return frame


__all__ = ["compute_features"]
