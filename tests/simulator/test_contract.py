from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudstream.simulator import SimulatorConfig, simulate
from fraudstream.simulator.population import draw_population
from fraudstream.transactions.contract import (
    CUSTOMER_ID,
    DATETIME_COLUMNS,
    FILE_COLUMNS,
    INTEGER_COLUMNS,
    TERMINAL_ID,
    TRANSACTION_ID,
    TX_AMOUNT,
    TX_DATETIME,
    TX_FRAUD,
    TX_FRAUD_SCENARIO,
    TX_TIME_DAYS,
    TX_TIME_SECONDS,
)

pytestmark = pytest.mark.unit


def test_frame_has_the_contract_columns_in_order(small_frame: pd.DataFrame) -> None:
    assert list(small_frame.columns) == list(FILE_COLUMNS)


def test_frame_has_the_contract_dtypes(small_frame: pd.DataFrame) -> None:
    for column in INTEGER_COLUMNS:
        assert small_frame[column].dtype == np.int64, column
    for column in DATETIME_COLUMNS:
        assert small_frame[column].dtype == np.dtype("datetime64[ns]"), column
    assert small_frame[TX_AMOUNT].dtype == np.float64


def test_ids_count_from_zero_in_time_order(small_frame: pd.DataFrame) -> None:
    assert len(small_frame) > 10_000
    assert (small_frame[TRANSACTION_ID].to_numpy() == np.arange(len(small_frame))).all()
    assert small_frame[TX_DATETIME].is_monotonic_increasing
    assert small_frame.index.equals(pd.RangeIndex(len(small_frame)))


def test_amounts_are_non_negative_cents(small_frame: pd.DataFrame) -> None:
    amount = small_frame[TX_AMOUNT].to_numpy()
    assert (amount >= 0).all()
    assert np.allclose(amount * 100, np.round(amount * 100), rtol=0, atol=1e-6)


def test_time_columns_agree_with_the_datetime(
    small_frame: pd.DataFrame, small_config: SimulatorConfig
) -> None:
    seconds = small_frame[TX_TIME_SECONDS]
    start = pd.Timestamp(small_config.start_date)
    assert (small_frame[TX_DATETIME] == start + pd.to_timedelta(seconds, unit="s")).all()
    assert (small_frame[TX_TIME_DAYS] == seconds // 86_400).all()
    assert small_frame[TX_TIME_DAYS].between(0, small_config.days - 1).all()
    assert small_frame[TX_DATETIME].min() >= start


def test_fraud_flag_is_the_scenario_being_nonzero(small_frame: pd.DataFrame) -> None:
    assert set(small_frame[TX_FRAUD_SCENARIO].unique()) == {0, 1, 2, 3}
    assert (small_frame[TX_FRAUD] == (small_frame[TX_FRAUD_SCENARIO] > 0)).all()


def test_customers_pay_only_at_terminals_within_the_radius(
    small_frame: pd.DataFrame, small_config: SimulatorConfig
) -> None:
    population = draw_population(
        small_config.seed, small_config.customers, small_config.terminals, small_config.radius
    )
    customer = small_frame[CUSTOMER_ID].to_numpy()
    terminal = small_frame[TERMINAL_ID].to_numpy()
    distance = np.linalg.norm(
        population.customer_xy[customer] - population.terminal_xy[terminal], axis=1
    )
    assert (distance < small_config.radius).all()
    assert customer.max() < small_config.customers
    assert terminal.min() >= 0


def test_customers_without_a_terminal_in_reach_make_no_transaction() -> None:
    config = SimulatorConfig(customers=200, terminals=20, days=20, radius=3.0, seed=2)
    population = draw_population(config.seed, config.customers, config.terminals, config.radius)
    unreachable = np.flatnonzero(population.reachable_count == 0)
    assert len(unreachable) > 0
    frame = simulate(config)
    assert not frame[CUSTOMER_ID].isin(unreachable).any()


def test_a_square_without_terminals_in_reach_gives_an_empty_frame_in_the_layout() -> None:
    frame = simulate(SimulatorConfig(customers=3, terminals=1, days=3, radius=0.001))
    assert frame.empty
    assert list(frame.columns) == list(FILE_COLUMNS)
    assert frame[TX_DATETIME].dtype == np.dtype("datetime64[ns]")
