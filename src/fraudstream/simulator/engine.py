"""``simulate``: the published design, plus the injected drifts, as one transaction frame."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from fraudstream.simulator.card_testing import card_testing_transactions
from fraudstream.simulator.config import SimulatorConfig
from fraudstream.simulator.drift import AmountShiftDrift, NewPatternDrift, TerminalBurstDrift
from fraudstream.simulator.labels import label_delays_ns
from fraudstream.simulator.population import Population, draw_population
from fraudstream.simulator.scenarios import (
    CARD_COMPROMISE_DAYS,
    COMPROMISED_CARDS_PER_DAY,
    COMPROMISED_TERMINALS_PER_DAY,
    TERMINAL_COMPROMISE_DAYS,
    Windows,
    daily_windows,
    distinct_per_day,
    mark_compromised_cards,
    mark_compromised_terminals,
    mark_large_amounts,
)
from fraudstream.simulator.streams import Stream, random_stream
from fraudstream.simulator.transactions import (
    Transactions,
    concatenate,
    draw_transactions,
    shift_amounts,
)
from fraudstream.transactions.contract import (
    CUSTOMER_ID,
    FILE_COLUMNS,
    TERMINAL_ID,
    TRANSACTION_ID,
    TX_AMOUNT,
    TX_DATETIME,
    TX_FRAUD,
    TX_FRAUD_SCENARIO,
    TX_LABEL_DATETIME,
    TX_TIME_DAYS,
    TX_TIME_SECONDS,
)

_NS_PER_SECOND = 1_000_000_000


def _terminal_windows(config: SimulatorConfig) -> Windows:
    """Scenario 2's daily compromises, plus every ``terminal-burst`` spec's."""
    daily = daily_windows(
        random_stream(config.seed, Stream.COMPROMISED_TERMINALS),
        config.days,
        config.terminals,
        COMPROMISED_TERMINALS_PER_DAY,
        TERMINAL_COMPROMISE_DAYS,
    )
    bursts = []
    for position, spec in config.drift_of(TerminalBurstDrift):
        rng = random_stream(config.seed, Stream.DRIFT, position)
        terminal, start = distinct_per_day(
            rng, range(spec.from_day, spec.from_day + 1), config.terminals, spec.terminals
        )
        end = np.full(len(terminal), spec.end_day(config.days), dtype=np.int64)
        bursts.append(Windows(entity=terminal, start=start, end=end))
    return Windows.join([daily, *bursts])


def _with_fraud(config: SimulatorConfig, genuine: Transactions) -> Transactions:
    """Apply the amount shifts, then scenarios 1, 2 (with bursts) and 3, in that order."""
    shifted = genuine
    for _, shift in config.drift_of(AmountShiftDrift):
        shifted = shift_amounts(shifted, shift.factor, shift.from_day, shift.end_day(config.days))
    cards = daily_windows(
        random_stream(config.seed, Stream.COMPROMISED_CARDS),
        config.days,
        config.customers,
        COMPROMISED_CARDS_PER_DAY,
        CARD_COMPROMISE_DAYS,
    )
    marked = mark_compromised_terminals(mark_large_amounts(shifted), _terminal_windows(config))
    return mark_compromised_cards(
        marked, cards, random_stream(config.seed, Stream.COMPROMISED_CARDS, 1)
    )


def _new_patterns(config: SimulatorConfig, population: Population) -> list[Transactions]:
    return [
        card_testing_transactions(
            spec,
            config.days,
            population.customers,
            population.terminals,
            random_stream(config.seed, Stream.DRIFT, position),
        )
        for position, spec in config.drift_of(NewPatternDrift)
    ]


def _with_label_delays(
    config: SimulatorConfig, parts: list[Transactions]
) -> tuple[Transactions, npt.NDArray[np.int64]]:
    """Merge the parts by time, each row with its label delay.

    Each part draws its delays from its own stream before the merge, so injecting card-testing
    rows leaves every other row's label time unchanged.
    """
    delays = [
        label_delays_ns(
            len(part),
            config.label_delay_days,
            config.label_jitter_days,
            random_stream(config.seed, Stream.LABELS, index),
        )
        for index, part in enumerate(parts)
    ]
    joined = concatenate(parts)
    order = np.argsort(joined.seconds, kind="stable")
    return joined.take(order), np.concatenate(delays)[order]


def to_frame(
    transactions: Transactions, label_delay_ns: npt.NDArray[np.int64], config: SimulatorConfig
) -> pd.DataFrame:
    """Lay time-sorted transactions out in the contract's file layout.

    Args:
        transactions: The transactions, sorted by time.
        label_delay_ns: Nanoseconds from each transaction to its label.
        config: Gives the start date (day 0 at midnight).
    """
    rows = len(transactions)
    start_ns = pd.Timestamp(config.start_date).as_unit("ns").value
    occurred_ns = start_ns + transactions.seconds * _NS_PER_SECOND
    labelled_ns = occurred_ns + label_delay_ns
    columns = {
        TRANSACTION_ID: np.arange(rows, dtype=np.int64),
        TX_DATETIME: occurred_ns.view("datetime64[ns]"),
        CUSTOMER_ID: transactions.customer,
        TERMINAL_ID: transactions.terminal,
        TX_AMOUNT: np.round(transactions.amount, 2),
        TX_TIME_SECONDS: transactions.seconds,
        TX_TIME_DAYS: transactions.day,
        TX_FRAUD: (transactions.scenario > 0).astype(np.int64),
        TX_FRAUD_SCENARIO: transactions.scenario,
        TX_LABEL_DATETIME: labelled_ns.view("datetime64[ns]"),
    }
    return pd.DataFrame({name: columns[name] for name in FILE_COLUMNS})


def simulate(config: SimulatorConfig) -> pd.DataFrame:
    """Simulate a card-transaction log with the published design and the configured drifts.

    The same configuration always gives the same frame. Without drift specs the output is the
    plain published design.

    Args:
        config: Population size, period, radius, seed, label timing and drift specs.

    Returns:
        One row per transaction, columns ``FILE_COLUMNS`` of the transaction contract, sorted by
        time, ``TRANSACTION_ID`` 0..n-1.
    """
    population = draw_population(config.seed, config.customers, config.terminals, config.radius)
    genuine = draw_transactions(
        population, config.days, random_stream(config.seed, Stream.TRANSACTIONS)
    )
    parts = [_with_fraud(config, genuine), *_new_patterns(config, population)]
    return to_frame(*_with_label_delays(config, parts), config)


__all__ = ["simulate", "to_frame"]
