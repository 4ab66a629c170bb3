"""The feature declaration: every model input, defined once for the offline and online paths.

Each :class:`~fraudstream.feature_store.vocabulary.Feature` names an entity (the card, the
terminal, or none for per-event features), an aggregation with exact per-event semantics, a
window and a delay in whole days, under the point-in-time rule of
:mod:`~fraudstream.feature_store.vocabulary`. The offline computation
(:func:`fraudstream.feature_store.offline.compute_features`) and the online one (Redis, one
event at a time) both read this declaration, never a copy of it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Final

from fraudstream.feature_store.vocabulary import Aggregation, Entity, Feature
from fraudstream.transactions.contract import TX_AMOUNT

#: Bump when the meaning of an aggregation changes, so older feature files stop matching.
SEMANTICS_REVISION: Final = 1
#: Days between a transaction and its label when a file does not say (the handbook's delay).
DEFAULT_LABEL_DELAY_DAYS: Final = 7
#: The delay of the terminal-risk features: labels are assumed known a week later.
TERMINAL_RISK_DELAY_DAYS: Final = 7


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
    "FEATURE_DEFINITION",
    "FEATURE_NAMES",
    "SEMANTICS_REVISION",
    "TERMINAL_RISK_DELAY_DAYS",
    "definition_version",
    "feature_names",
    "lookback_days",
]
