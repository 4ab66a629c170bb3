"""The handbook's three fraud scenarios, applied in order (a later one overrides an earlier one).

1. Every amount over 220 is fraud.
2. Each day, 2 random terminals are compromised for that day and the next 27: every transaction
   on them in that window is fraud.
3. Each day, 3 random cards are compromised for that day and the next 13: a random third
   (rounded down) of their transactions in that window is fraud, with the amount multiplied by 5.

A compromise is a :class:`Windows` row (entity, first day, end day). Finding the transactions
inside every window is one vectorised search over transactions sorted by (entity, time).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from fraudstream.simulator.transactions import Transactions

LARGE_AMOUNT = 220.0
COMPROMISED_TERMINALS_PER_DAY = 2
TERMINAL_COMPROMISE_DAYS = 28
COMPROMISED_CARDS_PER_DAY = 3
CARD_COMPROMISE_DAYS = 14
CARD_FRAUD_SHARE_DIVISOR = 3
CARD_FRAUD_AMOUNT_FACTOR = 5.0

Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Windows:
    """Compromise windows: ``entity`` is compromised on days ``[start, end)``."""

    entity: Ints
    start: Ints
    end: Ints

    @staticmethod
    def join(parts: list[Windows]) -> Windows:
        """All the windows of several sets, in the order given."""
        return Windows(
            entity=np.concatenate([p.entity for p in parts]),
            start=np.concatenate([p.start for p in parts]),
            end=np.concatenate([p.end for p in parts]),
        )


def distinct_per_day(
    rng: np.random.Generator, days: range, population: int, per_day: int
) -> tuple[Ints, Ints]:
    """Sample ``per_day`` distinct ids of ``population`` for each day (fewer if it is smaller).

    Returns:
        The ids and the day each was drawn for, day by day.
    """
    k = min(per_day, population)
    ids = [rng.choice(population, size=k, replace=False) for _ in days]
    drawn = np.concatenate(ids).astype(np.int64) if ids else np.zeros(0, dtype=np.int64)
    return drawn, np.repeat(np.asarray(days, dtype=np.int64), k)


def daily_windows(
    rng: np.random.Generator, total_days: int, population: int, per_day: int, length: int
) -> Windows:
    """Each day, ``per_day`` random entities compromised for ``length`` days (cut at the end)."""
    entity, start = distinct_per_day(rng, range(total_days), population, per_day)
    return Windows(entity=entity, start=start, end=np.minimum(start + length, total_days))


def window_members(entity: Ints, day: Ints, windows: Windows) -> tuple[Ints, Ints]:
    """Every (window, transaction) pair where the transaction falls in the window.

    Args:
        entity: The entity (terminal or customer) of each transaction, in time order.
        day: The day index of each transaction.
        windows: The compromise windows.

    Returns:
        Window indices and transaction indices, grouped by window, in time order within one.
    """
    span = int(max(day.max(initial=0), windows.end.max(initial=0))) + 1
    order = np.argsort(entity * span + day, kind="stable")
    keys = (entity * span + day)[order]
    low = np.searchsorted(keys, windows.entity * span + windows.start, side="left")
    high = np.searchsorted(keys, windows.entity * span + windows.end, side="left")
    size = np.maximum(high - low, 0)
    window = np.repeat(np.arange(len(size), dtype=np.int64), size)
    first = np.cumsum(size) - size
    rank = np.arange(int(size.sum()), dtype=np.int64) - first[window]
    return window, order[low[window] + rank].astype(np.int64)


def mark_large_amounts(transactions: Transactions) -> Transactions:
    """Scenario 1: every amount over 220 becomes fraud."""
    scenario = np.where(transactions.amount > LARGE_AMOUNT, 1, transactions.scenario)
    return replace(transactions, scenario=scenario.astype(np.int64))


def mark_compromised_terminals(transactions: Transactions, windows: Windows) -> Transactions:
    """Scenario 2: every transaction on a terminal inside one of its windows becomes fraud."""
    _, member = window_members(transactions.terminal, transactions.day, windows)
    scenario = transactions.scenario.copy()
    scenario[member] = 2
    return replace(transactions, scenario=scenario)


def mark_compromised_cards(
    transactions: Transactions, windows: Windows, rng: np.random.Generator
) -> Transactions:
    """Scenario 3: in each card window, a random third of the card's transactions become fraud.

    Each window picks exactly ``n // 3`` of its ``n`` transactions, uniformly. A transaction picked
    by two overlapping windows of the same card is multiplied by 5 twice, as in the handbook.
    """
    window, member = window_members(transactions.customer, transactions.day, windows)
    size = np.bincount(window, minlength=len(windows.entity))
    first = np.cumsum(size) - size
    shuffled = np.lexsort((rng.random(len(member)), window))
    rank = np.arange(len(member), dtype=np.int64) - first[window]
    chosen = member[shuffled][rank < (size // CARD_FRAUD_SHARE_DIVISOR)[window]]
    picks = np.bincount(chosen, minlength=len(transactions)).astype(np.int64)
    amount = transactions.amount * np.power(CARD_FRAUD_AMOUNT_FACTOR, picks.astype(np.float64))
    scenario = np.where(picks > 0, 3, transactions.scenario).astype(np.int64)
    return replace(transactions, amount=np.round(amount, 2), scenario=scenario)


__all__ = [
    "CARD_COMPROMISE_DAYS",
    "CARD_FRAUD_AMOUNT_FACTOR",
    "CARD_FRAUD_SHARE_DIVISOR",
    "COMPROMISED_CARDS_PER_DAY",
    "COMPROMISED_TERMINALS_PER_DAY",
    "LARGE_AMOUNT",
    "TERMINAL_COMPROMISE_DAYS",
    "Windows",
    "daily_windows",
    "distinct_per_day",
    "mark_compromised_cards",
    "mark_compromised_terminals",
    "mark_large_amounts",
]
