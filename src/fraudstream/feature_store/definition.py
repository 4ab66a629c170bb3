"""The feature declaration: every model input, defined once for the offline and online paths.

Each :class:`Feature` names an entity (the card, the terminal, or none for per-event features), an
:class:`Aggregation` with exact per-event semantics, a window and a delay in whole days. The offline
computation (:func:`fraudstream.feature_store.offline.compute_features`) and the online one (Redis,
one event at a time) both read this declaration, never a copy of it.

Point-in-time rule. Events are ordered by ``(TX_DATETIME, TRANSACTION_ID)``: ties in time are
broken by the id, as a stream processes them. The features of transaction ``i`` at ``t`` use only
transactions ordered at or before ``i`` and only labels with ``TX_LABEL_DATETIME <= t``. A window of
``w`` days with a delay of ``d`` days covers the times ``(t - (d + w) days, t - d days]``; with
``d = 0`` it ends at the transaction itself (later transactions at the same instant excluded).
Label-based aggregations never use the current transaction's own label.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from fraudstream.transactions.contract import CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT

#: Bump when the meaning of an aggregation changes, so older feature files stop matching.
SEMANTICS_REVISION: Final = 1
#: Days between a transaction and its label when a file does not say (the handbook's delay).
DEFAULT_LABEL_DELAY_DAYS: Final = 7
#: The delay of the terminal-risk features: labels are assumed known a week later.
TERMINAL_RISK_DELAY_DAYS: Final = 7


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


def _customer_spending(window: int) -> tuple[Feature, Feature]:
    return (
        Feature(
            f"CUSTOMER_ID_NB_TX_{window}DAY_WINDOW",
            Aggregation.COUNT,
            Entity.CUSTOMER,
            window,
            description=f"transactions of the card in the last {window} day(s), this one included",
        ),
        Feature(
            f"CUSTOMER_ID_AVG_AMOUNT_{window}DAY_WINDOW",
            Aggregation.MEAN_AMOUNT,
            Entity.CUSTOMER,
            window,
            description=f"mean amount of the card in the last {window} day(s), this one included",
        ),
    )


def _terminal_risk(window: int) -> tuple[Feature, Feature]:
    delay = TERMINAL_RISK_DELAY_DAYS
    return (
        Feature(
            f"TERMINAL_ID_NB_TX_{window}DAY_WINDOW",
            Aggregation.COUNT,
            Entity.TERMINAL,
            window,
            delay,
            f"transactions at the terminal in the {window} day(s) ending {delay} days ago",
        ),
        Feature(
            f"TERMINAL_ID_RISK_{window}DAY_WINDOW",
            Aggregation.FRAUD_RISK,
            Entity.TERMINAL,
            window,
            delay,
            f"share of known frauds at the terminal in the {window} day(s) ending {delay} days ago",
        ),
    )


#: A compromised card spends for up to 14 days: its usual amount is read from the 30 days before.
_USUAL_AMOUNT_DELAY_DAYS: Final = 14
_USUAL_AMOUNT_WINDOW_DAYS: Final = 30
#: Terminal label history: a 28-day compromise plus a week of label delay.
_TERMINAL_LABEL_WINDOW_DAYS: Final = 35


def _card_compromise_signal() -> Feature:
    delay, window = _USUAL_AMOUNT_DELAY_DAYS, _USUAL_AMOUNT_WINDOW_DAYS
    return Feature(
        f"CUSTOMER_ID_RECENT_MAX_AMOUNT_RATIO_{window}DAY_WINDOW_{delay}DAY_DELAY",
        Aggregation.RECENT_MAX_AMOUNT_RATIO,
        Entity.CUSTOMER,
        window,
        delay,
        f"the card's largest earlier amount of the last {delay} days / its usual mean amount "
        f"({window} days ending {delay} days ago)",
    )


def _terminal_compromise_signals() -> tuple[Feature, ...]:
    window = _TERMINAL_LABEL_WINDOW_DAYS
    return (
        Feature(
            "TERMINAL_ID_KNOWN_FRAUD_SHARE_14DAY_WINDOW",
            Aggregation.KNOWN_FRAUD_SHARE,
            Entity.TERMINAL,
            14,
            description="share of frauds among the terminal's labels known so far (last 14 days)",
        ),
        Feature(
            f"TERMINAL_ID_SECONDS_SINCE_FIRST_KNOWN_FRAUD_{window}DAY_WINDOW",
            Aggregation.SECONDS_SINCE_FIRST_KNOWN_FRAUD,
            Entity.TERMINAL,
            window,
            description="age of the terminal's earliest known fraud: how long it has been compromised",
        ),
        Feature(
            f"TERMINAL_ID_SECONDS_SINCE_LAST_KNOWN_GENUINE_{window}DAY_WINDOW",
            Aggregation.SECONDS_SINCE_LAST_KNOWN_GENUINE,
            Entity.TERMINAL,
            window,
            description="age of the terminal's latest transaction known to be genuine",
        ),
    )


#: The declaration, in output column order: the handbook's 15 baseline inputs, then ours.
FEATURE_DEFINITION: Final[tuple[Feature, ...]] = (
    Feature(TX_AMOUNT, Aggregation.AMOUNT, description="the transaction amount"),
    Feature("TX_DURING_WEEKEND", Aggregation.WEEKEND, description="1 on Saturday or Sunday"),
    Feature("TX_DURING_NIGHT", Aggregation.NIGHT, description="1 from 00:00 to 06:59"),
    *_customer_spending(1),
    *_customer_spending(7),
    *_customer_spending(30),
    *_terminal_risk(1),
    *_terminal_risk(7),
    *_terminal_risk(30),
    Feature(
        "CUSTOMER_ID_AMOUNT_RATIO_30DAY_WINDOW",
        Aggregation.AMOUNT_RATIO,
        Entity.CUSTOMER,
        30,
        description="amount / the card's mean amount over the previous 30 days (1 if none)",
    ),
    Feature(
        "CUSTOMER_ID_SECONDS_SINCE_PREV_TX",
        Aggregation.SECONDS_SINCE_PREVIOUS,
        Entity.CUSTOMER,
        30,
        description="seconds since the card's previous transaction (capped at 30 days)",
    ),
    Feature(
        "CUSTOMER_ID_NB_FRAUD_KNOWN_30DAY_WINDOW",
        Aggregation.FRAUD_COUNT,
        Entity.CUSTOMER,
        30,
        description="frauds on the card in the last 30 days already known (card compromised)",
    ),
    Feature(
        "TERMINAL_ID_NB_FRAUD_KNOWN_28DAY_WINDOW",
        Aggregation.FRAUD_COUNT,
        Entity.TERMINAL,
        28,
        description="frauds at the terminal in the last 28 days already known (no fixed delay)",
    ),
    _card_compromise_signal(),
    *_terminal_compromise_signals(),
)

#: Output column names, in order.
FEATURE_NAMES: Final[tuple[str, ...]] = tuple(f.name for f in FEATURE_DEFINITION)


def feature_names(definition: tuple[Feature, ...]) -> tuple[str, ...]:
    """Return the output column names of ``definition``, checking they are unique."""
    names = tuple(f.name for f in definition)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        msg = f"feature names must be unique; repeated: {', '.join(duplicates)}"
        raise ValueError(msg)
    return names


def definition_version(definition: tuple[Feature, ...] = FEATURE_DEFINITION) -> str:
    """Return a short stable hash of the declaration, to tie a model to its features.

    It covers every feature's name, aggregation, entity, window and delay, their order, the
    default label delay and :data:`SEMANTICS_REVISION`; descriptions are left out (rewording one
    changes no value).
    """
    payload = {
        "semantics_revision": SEMANTICS_REVISION,
        "default_label_delay_days": DEFAULT_LABEL_DELAY_DAYS,
        "features": [
            [f.name, str(f.aggregation), f.entity and str(f.entity), f.window_days, f.delay_days]
            for f in definition
        ],
    }
    text = json.dumps(payload, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def lookback_days(definition: tuple[Feature, ...] = FEATURE_DEFINITION) -> dict[Entity, int]:
    """Return, per entity, how many days of history the definition reads (online state to keep)."""
    days: dict[Entity, int] = {}
    for feature in definition:
        if feature.entity is not None:
            days[feature.entity] = max(days.get(feature.entity, 0), feature.lookback_days)
    return days


__all__ = [
    "DEFAULT_LABEL_DELAY_DAYS",
    "DELAYED_ONLY",
    "FEATURE_DEFINITION",
    "FEATURE_NAMES",
    "LABEL_BASED",
    "PER_EVENT",
    "SEMANTICS_REVISION",
    "TERMINAL_RISK_DELAY_DAYS",
    "UNDELAYED_ONLY",
    "Aggregation",
    "Entity",
    "Feature",
    "definition_version",
    "feature_names",
    "lookback_days",
]
