"""Genuine transactions: how many each customer makes per day, when, where and for how much.

Everything is drawn for all customers and days at once: a ``(days, customers)`` matrix of
Poisson counts is expanded into one row per transaction, then times, amounts and terminals are
drawn as whole arrays. Rows whose time falls outside the day, or whose customer reaches no
terminal, are dropped afterwards (as in the published design), so the draws stay in a fixed
order whatever is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from fraudstream.simulator.population import Population

SECONDS_PER_DAY = 86_400
#: Time of day ~ Normal(noon, 20,000 s); draws outside [0, 86,400) are dropped.
TIME_OF_DAY_MEAN = 43_200.0
TIME_OF_DAY_STD = 20_000.0

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Transactions:
    """Transactions as parallel arrays, sorted by time (stable).

    Attributes:
        seconds: Seconds since the start date's midnight.
        customer: Customer (card) id.
        terminal: Terminal id.
        amount: Amount, in cents precision once the frame is built.
        scenario: Fraud scenario, 0 for genuine.
    """

    seconds: Ints
    customer: Ints
    terminal: Ints
    amount: Floats
    scenario: Ints

    @property
    def day(self) -> Ints:
        """Day index of each transaction (0 = the start date)."""
        return self.seconds // SECONDS_PER_DAY

    def __len__(self) -> int:
        return len(self.seconds)

    def take(self, index: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> Transactions:
        """The rows selected by an index array or a boolean mask, in that order."""
        return Transactions(
            seconds=self.seconds[index],
            customer=self.customer[index],
            terminal=self.terminal[index],
            amount=self.amount[index],
            scenario=self.scenario[index],
        )


def concatenate(parts: list[Transactions]) -> Transactions:
    """The rows of several sets of transactions, one set after the other (not re-sorted)."""
    return Transactions(
        seconds=np.concatenate([p.seconds for p in parts]),
        customer=np.concatenate([p.customer for p in parts]),
        terminal=np.concatenate([p.terminal for p in parts]),
        amount=np.concatenate([p.amount for p in parts]),
        scenario=np.concatenate([p.scenario for p in parts]),
    )


def _draw_amounts(rng: np.random.Generator, mean: Floats, std: Floats) -> Floats:
    """Normal(mean, std) per row; a negative draw is redrawn uniform on [0, 2·mean)."""
    amount = rng.normal(mean, std)
    negative = np.flatnonzero(amount < 0.0)
    amount[negative] = rng.uniform(0.0, 2.0 * mean[negative])
    return np.round(amount, 2)


def _pick_terminals(rng: np.random.Generator, population: Population, customer: Ints) -> Ints:
    """A terminal uniformly among each row's reachable ones (-1 where there is none)."""
    count = population.reachable_count[customer]
    slot = np.floor(rng.random(len(customer)) * count).astype(np.int64)
    position = population.reachable_offset[customer] + slot
    has_any = count > 0
    terminal = np.full(len(customer), -1, dtype=np.int64)
    terminal[has_any] = population.reachable[position[has_any]]
    return terminal


def draw_transactions(population: Population, days: int, rng: np.random.Generator) -> Transactions:
    """Draw every genuine transaction of ``days`` days, sorted by time.

    Args:
        population: Customers, terminals and reachability.
        days: Number of days.
        rng: The transactions' own random stream.
    """
    per_day = rng.poisson(population.mean_daily_transactions, size=(days, population.customers))
    counts = per_day.ravel()
    customer = np.repeat(np.tile(np.arange(population.customers, dtype=np.int64), days), counts)
    day = np.repeat(np.repeat(np.arange(days, dtype=np.int64), population.customers), counts)
    time_of_day = np.floor(rng.normal(TIME_OF_DAY_MEAN, TIME_OF_DAY_STD, len(customer)))
    amount = _draw_amounts(rng, population.mean_amount[customer], population.std_amount[customer])
    terminal = _pick_terminals(rng, population, customer)
    keep = (time_of_day >= 0) & (time_of_day < SECONDS_PER_DAY) & (terminal >= 0)
    drawn = Transactions(
        seconds=day * SECONDS_PER_DAY + time_of_day.astype(np.int64),
        customer=customer,
        terminal=terminal,
        amount=amount,
        scenario=np.zeros(len(customer), dtype=np.int64),
    )
    kept = drawn.take(keep)
    return kept.take(np.argsort(kept.seconds, kind="stable"))


def shift_amounts(
    transactions: Transactions, factor: float, from_day: int, end_day: int
) -> Transactions:
    """Multiply the amounts of days ``[from_day, end_day)`` by ``factor`` (rounded to cents)."""
    day = transactions.day
    inside = (day >= from_day) & (day < end_day)
    amount = transactions.amount.copy()
    amount[inside] = np.round(amount[inside] * factor, 2)
    return replace(transactions, amount=amount)


__all__ = [
    "SECONDS_PER_DAY",
    "TIME_OF_DAY_MEAN",
    "TIME_OF_DAY_STD",
    "Transactions",
    "concatenate",
    "draw_transactions",
    "shift_amounts",
]
