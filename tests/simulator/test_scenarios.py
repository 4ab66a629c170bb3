"""Each fraud scenario's rule, checked against the compromise windows the simulator drew.

The windows are redrawn here from the same random streams (the simulator's own helpers), so the
tests see exactly which terminals and cards were compromised, and when.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudstream.simulator import SimulatorConfig
from fraudstream.simulator.population import draw_population
from fraudstream.simulator.scenarios import Windows, daily_windows, window_members
from fraudstream.simulator.streams import Stream, random_stream
from fraudstream.simulator.transactions import draw_transactions
from fraudstream.transactions.contract import (
    CUSTOMER_ID,
    TERMINAL_ID,
    TX_AMOUNT,
    TX_FRAUD_SCENARIO,
    TX_TIME_DAYS,
)

pytestmark = pytest.mark.unit


def _windows(
    config: SimulatorConfig, part: Stream, population: int, per_day: int, length: int
) -> Windows:
    return daily_windows(random_stream(config.seed, part), config.days, population, per_day, length)


def _members(frame: pd.DataFrame, entity: str, windows: Windows) -> tuple[np.ndarray, np.ndarray]:
    return window_members(frame[entity].to_numpy(), frame[TX_TIME_DAYS].to_numpy(), windows)


def test_the_compromise_windows_are_two_terminals_and_three_cards_a_day(
    small_config: SimulatorConfig,
) -> None:
    terminals = _windows(small_config, Stream.COMPROMISED_TERMINALS, small_config.terminals, 2, 28)
    cards = _windows(small_config, Stream.COMPROMISED_CARDS, small_config.customers, 3, 14)
    assert len(terminals.entity) == 2 * small_config.days
    assert len(cards.entity) == 3 * small_config.days
    assert (terminals.end - terminals.start <= 28).all()
    assert (terminals.end[:20] - terminals.start[:20] == 28).all()
    assert (cards.end == np.minimum(cards.start + 14, small_config.days)).all()
    for windows in (terminals, cards):
        per_day = pd.DataFrame({"day": windows.start, "id": windows.entity})
        assert (per_day.groupby("day")["id"].nunique() == per_day.groupby("day").size()).all()


def test_every_amount_over_220_is_fraud(small_frame: pd.DataFrame) -> None:
    scenario = small_frame[TX_FRAUD_SCENARIO]
    large = small_frame[TX_AMOUNT] > 220
    assert (scenario[large] > 0).all()
    assert (small_frame.loc[scenario == 1, TX_AMOUNT] > 220).all()
    assert (scenario == 1).sum() > 0


def test_compromised_terminals_make_every_transaction_fraud_for_28_days(
    small_frame: pd.DataFrame, small_config: SimulatorConfig
) -> None:
    windows = _windows(small_config, Stream.COMPROMISED_TERMINALS, small_config.terminals, 2, 28)
    _, member = _members(small_frame, TERMINAL_ID, windows)
    inside = np.zeros(len(small_frame), dtype=bool)
    inside[member] = True
    scenario = small_frame[TX_FRAUD_SCENARIO].to_numpy()
    # Inside a window: scenario 2, unless scenario 3 (applied later) took the transaction.
    assert np.isin(scenario[inside], [2, 3]).all()
    assert not (scenario[~inside] == 2).any()
    assert (scenario[inside] == 2).sum() > 500


def test_compromised_cards_lose_a_third_of_their_transactions_at_five_times_the_amount(
    small_frame: pd.DataFrame, small_config: SimulatorConfig
) -> None:
    windows = _windows(small_config, Stream.COMPROMISED_CARDS, small_config.customers, 3, 14)
    window, member = _members(small_frame, CUSTOMER_ID, windows)
    scenario = small_frame[TX_FRAUD_SCENARIO].to_numpy()
    inside = np.zeros(len(small_frame), dtype=bool)
    inside[member] = True
    assert not (scenario[~inside] == 3).any()
    # Windows not overlapping another window of the same card: exactly n // 3 are fraud.
    pairs = pd.DataFrame({"window": window, "tx": member, "fraud": scenario[member] == 3})
    shared = pairs["tx"].duplicated(keep=False)
    alone = pairs.groupby("window").filter(lambda g: not shared[g.index].any())
    counts = alone.groupby("window")["fraud"].agg(["size", "sum"])
    assert len(counts) > 100
    assert (counts["sum"] == counts["size"] // 3).all()


def test_card_fraud_multiplies_the_drawn_amount_by_five(
    small_frame: pd.DataFrame, small_config: SimulatorConfig
) -> None:
    population = draw_population(
        small_config.seed, small_config.customers, small_config.terminals, small_config.radius
    )
    drawn = draw_transactions(
        population, small_config.days, random_stream(small_config.seed, Stream.TRANSACTIONS)
    )
    amount = small_frame[TX_AMOUNT].to_numpy()
    card_fraud = small_frame[TX_FRAUD_SCENARIO].to_numpy() == 3
    assert len(drawn) == len(small_frame)
    assert (small_frame[CUSTOMER_ID].to_numpy() == drawn.customer).all()
    assert np.array_equal(amount[~card_fraud], drawn.amount[~card_fraud])
    once = np.isclose(amount[card_fraud], np.round(drawn.amount[card_fraud] * 5, 2))
    # A transaction picked by two overlapping windows of its card is multiplied twice.
    twice = np.isclose(amount[card_fraud], np.round(drawn.amount[card_fraud] * 25, 2))
    assert (once | twice).all()
    assert once.mean() > 0.95
