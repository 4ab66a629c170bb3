"""The declaration: the handbook's names and meanings, our extras, the version hash."""

from __future__ import annotations

import dataclasses

import pytest

from fraudstream.feature_store import (
    FEATURE_DEFINITION,
    FEATURE_NAMES,
    Aggregation,
    Entity,
    Feature,
    definition_version,
    feature_names,
    lookback_days,
)

pytestmark = pytest.mark.unit

#: The handbook's baseline model inputs, in its order.
HANDBOOK_FEATURES = [
    "TX_AMOUNT",
    "TX_DURING_WEEKEND",
    "TX_DURING_NIGHT",
    "CUSTOMER_ID_NB_TX_1DAY_WINDOW",
    "CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW",
    "CUSTOMER_ID_NB_TX_7DAY_WINDOW",
    "CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW",
    "CUSTOMER_ID_NB_TX_30DAY_WINDOW",
    "CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW",
    "TERMINAL_ID_NB_TX_1DAY_WINDOW",
    "TERMINAL_ID_RISK_1DAY_WINDOW",
    "TERMINAL_ID_NB_TX_7DAY_WINDOW",
    "TERMINAL_ID_RISK_7DAY_WINDOW",
    "TERMINAL_ID_NB_TX_30DAY_WINDOW",
    "TERMINAL_ID_RISK_30DAY_WINDOW",
]
#: Pinned on purpose: a change to the declaration must come with a new version here.
CURRENT_VERSION = "a7a14fae1bf5"


def test_the_declaration_starts_with_the_handbook_features_in_order() -> None:
    assert list(FEATURE_NAMES[:15]) == HANDBOOK_FEATURES


def test_extra_features_are_few_unique_and_named_like_the_handbook() -> None:
    extras = FEATURE_NAMES[15:]
    assert 4 <= len(extras) <= 8
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert all(
        name.isupper() and name.startswith(("CUSTOMER_ID_", "TERMINAL_ID_")) for name in extras
    )
    assert feature_names(FEATURE_DEFINITION) == FEATURE_NAMES


@pytest.mark.parametrize("window", [1, 7, 30])
def test_handbook_features_mean_what_their_names_say(window: int) -> None:
    declared = {f.name: f for f in FEATURE_DEFINITION}
    expected = {
        f"CUSTOMER_ID_NB_TX_{window}DAY_WINDOW": (Aggregation.COUNT, Entity.CUSTOMER, 0),
        f"CUSTOMER_ID_AVG_AMOUNT_{window}DAY_WINDOW": (Aggregation.MEAN_AMOUNT, Entity.CUSTOMER, 0),
        f"TERMINAL_ID_NB_TX_{window}DAY_WINDOW": (Aggregation.COUNT, Entity.TERMINAL, 7),
        f"TERMINAL_ID_RISK_{window}DAY_WINDOW": (Aggregation.FRAUD_RISK, Entity.TERMINAL, 7),
    }
    for name, (aggregation, entity, delay) in expected.items():
        feature = declared[name]
        assert (feature.aggregation, feature.entity, feature.window_days, feature.delay_days) == (
            aggregation,
            entity,
            window,
            delay,
        ), name


def test_per_event_features_have_no_entity_window_or_delay() -> None:
    declared = {f.name: f for f in FEATURE_DEFINITION}
    assert declared["TX_AMOUNT"].aggregation is Aggregation.AMOUNT
    assert declared["TX_DURING_WEEKEND"].aggregation is Aggregation.WEEKEND
    assert declared["TX_DURING_NIGHT"].aggregation is Aggregation.NIGHT
    for name in ("TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT"):
        assert (declared[name].entity, declared[name].lookback_days) == (None, 0)


def test_every_feature_is_described() -> None:
    assert all(len(f.description) > 10 for f in FEATURE_DEFINITION)


def test_definition_version_is_pinned_and_deterministic() -> None:
    assert definition_version() == CURRENT_VERSION
    assert definition_version(tuple(FEATURE_DEFINITION)) == CURRENT_VERSION
    assert len(CURRENT_VERSION) == 12


@pytest.mark.parametrize(
    "change",
    [
        {"window_days": 2},
        {"delay_days": 3},
        {"name": "RENAMED"},
        {"entity": Entity.TERMINAL},
        {"aggregation": Aggregation.FRAUD_COUNT},
    ],
)
def test_definition_version_changes_with_the_declaration(change: dict[str, object]) -> None:
    index = FEATURE_NAMES.index("CUSTOMER_ID_NB_TX_1DAY_WINDOW")
    edited = list(FEATURE_DEFINITION)
    edited[index] = dataclasses.replace(edited[index], **change)  # type: ignore[arg-type]
    assert definition_version(tuple(edited)) != CURRENT_VERSION


def test_definition_version_changes_with_order_and_membership_not_descriptions() -> None:
    assert definition_version(FEATURE_DEFINITION[::-1]) != CURRENT_VERSION
    assert definition_version(FEATURE_DEFINITION[:-1]) != CURRENT_VERSION
    reworded = tuple(dataclasses.replace(f, description="other words") for f in FEATURE_DEFINITION)
    assert definition_version(reworded) == CURRENT_VERSION


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"aggregation": Aggregation.AMOUNT, "entity": Entity.CUSTOMER}, "per-event"),
        ({"aggregation": Aggregation.COUNT, "window_days": 1}, "needs an entity"),
        ({"aggregation": Aggregation.COUNT, "entity": Entity.CUSTOMER}, "at least 1 day"),
        (
            {"aggregation": Aggregation.COUNT, "entity": Entity.CUSTOMER, "window_days": 0.5},
            "whole days",
        ),
        (
            {
                "aggregation": Aggregation.COUNT,
                "entity": Entity.CUSTOMER,
                "window_days": 1,
                "delay_days": -1,
            },
            ">= 0",
        ),
        (
            {
                "aggregation": Aggregation.SECONDS_SINCE_FIRST_KNOWN_FRAUD,
                "entity": Entity.TERMINAL,
                "window_days": 1,
                "delay_days": 1,
            },
            "delay of 0",
        ),
        (
            {
                "aggregation": Aggregation.RECENT_MAX_AMOUNT_RATIO,
                "entity": Entity.CUSTOMER,
                "window_days": 30,
            },
            "at least 1 day",
        ),
    ],
)
def test_a_feature_without_a_clear_meaning_is_rejected(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Feature("X", **kwargs)  # type: ignore[arg-type]


def test_repeated_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="TX_AMOUNT"):
        feature_names((FEATURE_DEFINITION[0], FEATURE_DEFINITION[0]))


def test_lookback_days_tell_the_online_store_how_much_history_to_keep() -> None:
    assert lookback_days() == {Entity.CUSTOMER: 44, Entity.TERMINAL: 37}
    assert Entity.CUSTOMER.value == "CUSTOMER_ID"
    assert Entity.TERMINAL.value == "TERMINAL_ID"
