"""The language of feature declarations: entities, aggregations and their exact semantics.

Point-in-time rule. Events are ordered by ``(TX_DATETIME, TRANSACTION_ID)``: ties in time are
broken by the id, as a stream processes them. The features of transaction ``i`` at ``t`` use only
transactions ordered at or before ``i`` and only labels with ``TX_LABEL_DATETIME <= t``. A window of
``w`` days with a delay of ``d`` days covers the times ``(t - (d + w) days, t - d days]``; with
``d = 0`` it ends at the transaction itself (later transactions at the same instant excluded).
Label-based aggregations never use the current transaction's own label.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from fraudstream.transactions.contract import CUSTOMER_ID, TERMINAL_ID


class Entity(StrEnum):
    """Whose history a windowed feature aggregates; the value is the transaction column."""

    CUSTOMER = CUSTOMER_ID
    TERMINAL = TERMINAL_ID


class Aggregation(StrEnum):
    """What a feature computes for one transaction ``i`` at time ``t`` (see the module docstring).

    "The window" is the entity's transactions ordered at or before ``i`` with a time in
    ``(t - (delay + window) days, t - delay days]``; "earlier" excludes ``i`` itself.
    """

    #: ``TX_AMOUNT`` of the transaction itself.
    AMOUNT = "amount"
    #: 1 when the transaction falls on a Saturday or Sunday (weekday >= 5), else 0.
    WEEKEND = "weekend"
    #: 1 when the transaction's hour of day is <= 6 (00:00-06:59), else 0.
    NIGHT = "night"
    #: Number of transactions in the window (the current one included when the delay is 0).
    COUNT = "count"
    #: Mean ``TX_AMOUNT`` of the transactions counted by ``COUNT``; 0 when there are none.
    MEAN_AMOUNT = "mean_amount"
    #: ``TX_AMOUNT`` / mean amount of the earlier transactions in the window; 1 (nothing unusual)
    #: when there are none or their mean is 0. With a delay of ``d`` days the window ends ``d``
    #: days ago: the entity's usual amount, before anything that happened in the last ``d`` days.
    AMOUNT_RATIO = "amount_ratio"
    #: Largest ``TX_AMOUNT`` of the earlier transactions of the last ``delay`` days,
    #: ``(t - delay days, t]``, / the mean amount of the transactions in the window (which ends
    #: where that recent period begins); 1 when either is empty or the mean is 0. Delay >= 1.
    RECENT_MAX_AMOUNT_RATIO = "recent_max_amount_ratio"
    #: Seconds since the entity's previous transaction, capped at the window (delay 0 only);
    #: the cap when there is none. Ties in time give 0.
    SECONDS_SINCE_PREVIOUS = "seconds_since_previous"
    #: Earlier transactions in the window that are frauds with ``TX_LABEL_DATETIME <= t``.
    FRAUD_COUNT = "fraud_count"
    #: ``FRAUD_COUNT`` / number of earlier transactions in the window; 0 when there are none.
    FRAUD_RISK = "fraud_risk"
    #: ``FRAUD_COUNT`` / number of earlier transactions in the window whose label (fraud or
    #: genuine) is known by ``t``; 0 when there are none.
    KNOWN_FRAUD_SHARE = "known_fraud_share"
    #: Seconds from the earliest earlier transaction in the window that is a fraud known by
    #: ``t`` to ``t`` (delay 0 only); the window length when there is none.
    SECONDS_SINCE_FIRST_KNOWN_FRAUD = "seconds_since_first_known_fraud"
    #: Seconds from the latest earlier transaction in the window known by ``t`` to be genuine
    #: (``TX_FRAUD`` 0, ``TX_LABEL_DATETIME <= t``) to ``t`` (delay 0 only); the window length
    #: when there is none.
    SECONDS_SINCE_LAST_KNOWN_GENUINE = "seconds_since_last_known_genuine"


#: Aggregations of the event alone: no entity, window or delay.
PER_EVENT: Final = frozenset({Aggregation.AMOUNT, Aggregation.WEEKEND, Aggregation.NIGHT})
#: Aggregations that read labels (and so depend on when each label became known).
LABEL_BASED: Final = frozenset(
    {
        Aggregation.FRAUD_COUNT,
        Aggregation.FRAUD_RISK,
        Aggregation.KNOWN_FRAUD_SHARE,
        Aggregation.SECONDS_SINCE_FIRST_KNOWN_FRAUD,
        Aggregation.SECONDS_SINCE_LAST_KNOWN_GENUINE,
    }
)
#: Aggregations defined only for windows that end at the transaction (delay 0).
UNDELAYED_ONLY: Final = frozenset(
    {
        Aggregation.SECONDS_SINCE_PREVIOUS,
        Aggregation.SECONDS_SINCE_FIRST_KNOWN_FRAUD,
        Aggregation.SECONDS_SINCE_LAST_KNOWN_GENUINE,
    }
)
#: Aggregations that compare the last ``delay`` days with the window before: delay >= 1.
DELAYED_ONLY: Final = frozenset({Aggregation.RECENT_MAX_AMOUNT_RATIO})


@dataclass(frozen=True, slots=True)
class Feature:
    """One model input: an aggregation of an entity's recent history, or of the event alone.

    Attributes:
        name: Output column name.
        aggregation: What is computed (per-event semantics on :class:`Aggregation`).
        entity: Whose history is aggregated; ``None`` for per-event features.
        window_days: Length of the window in days (0 for per-event features).
        delay_days: How many days before the transaction the window ends.
        description: One line for people; not part of :func:`definition_version`.
    """

    name: str
    aggregation: Aggregation
    entity: Entity | None = None
    window_days: int = 0
    delay_days: int = 0
    description: str = ""

    def __post_init__(self) -> None:
        """Reject declarations that have no well-defined per-event meaning."""
        problem = _declaration_problem(self)
        if problem:
            msg = f"feature {self.name!r}: {problem}"
            raise ValueError(msg)

    @property
    def lookback_days(self) -> int:
        """How far back the feature reads: the state an online store must keep for it."""
        return self.window_days + self.delay_days


def _declaration_problem(feature: Feature) -> str | None:
    if not feature.name:
        return "the name is empty"
    if feature.aggregation in PER_EVENT:
        if feature.entity is not None or feature.window_days or feature.delay_days:
            return "a per-event feature takes no entity, window or delay"
        return None
    if feature.entity is None:
        return f"{feature.aggregation} needs an entity"
    if not all(type(days) is int for days in (feature.window_days, feature.delay_days)):
        return "the window and the delay are whole days (int)"
    if feature.window_days < 1:
        return f"the window must be at least 1 day, got {feature.window_days}"
    if feature.delay_days < 0:
        return f"the delay must be >= 0 days, got {feature.delay_days}"
    if feature.aggregation in UNDELAYED_ONLY and feature.delay_days:
        return f"{feature.aggregation} is defined only with a delay of 0 days"
    if feature.aggregation in DELAYED_ONLY and not feature.delay_days:
        return f"{feature.aggregation} needs a delay of at least 1 day (the recent period)"
    return None


__all__ = [
    "DELAYED_ONLY",
    "LABEL_BASED",
    "PER_EVENT",
    "UNDELAYED_ONLY",
    "Aggregation",
    "Entity",
    "Feature",
]
