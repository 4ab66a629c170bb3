"""The injected new fraud pattern (scenario 4): card testing.

Fraudsters who buy stolen card numbers first check that the cards work with tiny payments, in
bursts, at night, through one merchant. On each affected day, ``cards`` random cards are tested;
each test is a burst of ``1 + Poisson(burst - 1)`` payments (mean ``burst``) of 0.50 to 5.00,
the first between 00:00 and 05:00, the next ones an exponential 90 s apart on average, all at
one terminal drawn uniformly from the whole square (the fraudster is not where the cardholder
lives). Every such payment is fraud, scenario 4.

None of the handbook's scenarios looks like this (small amounts, far terminals, night bursts),
so a model trained before it starts misses it: a drift for monitoring to catch.
"""

from __future__ import annotations

import numpy as np

from fraudstream.simulator.drift import NewPatternDrift
from fraudstream.simulator.scenarios import distinct_per_day
from fraudstream.simulator.transactions import SECONDS_PER_DAY, Transactions

NEW_PATTERN_SCENARIO = 4
TEST_AMOUNT_RANGE = (0.50, 5.00)
#: Bursts start between midnight and this second of the day (05:00).
LATEST_BURST_START = 5 * 3600
MEAN_SECONDS_BETWEEN_TESTS = 90.0


def card_testing_transactions(
    spec: NewPatternDrift,
    total_days: int,
    customers: int,
    terminals: int,
    rng: np.random.Generator,
) -> Transactions:
    """Draw the card-testing payments of one ``new-pattern`` spec (burst by burst, not sorted).

    Args:
        spec: The drift spec (first day, duration, cards per day, mean burst size).
        total_days: Days simulated; the pattern stops at the end.
        customers: Number of customers (cards) to pick from.
        terminals: Number of terminals to pick from.
        rng: The spec's own random stream.
    """
    card, day = distinct_per_day(
        rng, range(spec.from_day, spec.end_day(total_days)), customers, spec.cards
    )
    bursts = len(card)
    size = 1 + rng.poisson(spec.burst - 1.0, size=bursts).astype(np.int64)
    start = rng.integers(0, LATEST_BURST_START, size=bursts, dtype=np.int64)
    terminal = rng.integers(0, terminals, size=bursts, dtype=np.int64)
    rows = int(size.sum())
    burst = np.repeat(np.arange(bursts, dtype=np.int64), size)
    gap = np.round(rng.exponential(MEAN_SECONDS_BETWEEN_TESTS, size=rows)).astype(np.int64)
    # The first payment of a burst is at its start: drop each burst's first gap.
    first = np.cumsum(size) - size
    gap[first] = 0
    elapsed = np.cumsum(gap) - np.repeat(np.cumsum(gap)[first], size)
    time_of_day = np.minimum(start[burst] + elapsed, SECONDS_PER_DAY - 1)
    amount = np.round(rng.uniform(*TEST_AMOUNT_RANGE, size=rows), 2)
    return Transactions(
        seconds=day[burst] * SECONDS_PER_DAY + time_of_day,
        customer=card[burst],
        terminal=terminal[burst],
        amount=amount,
        scenario=np.full(rows, NEW_PATTERN_SCENARIO, dtype=np.int64),
    )


__all__ = [
    "LATEST_BURST_START",
    "MEAN_SECONDS_BETWEEN_TESTS",
    "NEW_PATTERN_SCENARIO",
    "TEST_AMOUNT_RANGE",
    "card_testing_transactions",
]
