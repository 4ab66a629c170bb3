"""Customers, terminals, and which terminals each customer can reach.

Customers and terminals sit uniformly on a 100 by 100 square. A customer pays only at terminals
within ``radius`` of their location; those terminals are kept in a CSR layout (one flat array of
terminal ids, grouped by customer, with per-customer offsets and counts), so picking a terminal
for a million transactions is one vectorised gather.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from fraudstream.simulator.streams import Stream, random_stream

#: Side of the square customers and terminals live on.
SQUARE_SIDE = 100.0
#: A customer's mean amount is uniform on this range; the standard deviation is half the mean.
MEAN_AMOUNT_RANGE = (5.0, 100.0)
#: A customer's mean number of transactions per day is uniform on this range.
MEAN_DAILY_TRANSACTIONS_RANGE = (0.0, 4.0)

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Population:
    """Customer profiles, terminal locations and the reachable terminals (CSR layout).

    Attributes:
        customer_xy: Customer locations, shape ``(customers, 2)``.
        mean_amount: Each customer's mean amount.
        std_amount: Each customer's amount standard deviation (half the mean).
        mean_daily_transactions: Each customer's Poisson rate of transactions per day.
        terminal_xy: Terminal locations, shape ``(terminals, 2)``.
        reachable: Terminal ids reachable by customer 0, then customer 1, ... (ascending ids).
        reachable_offset: Where each customer's terminals start in ``reachable``.
        reachable_count: How many terminals each customer reaches (0: the customer never pays).
    """

    customer_xy: Floats
    mean_amount: Floats
    std_amount: Floats
    mean_daily_transactions: Floats
    terminal_xy: Floats
    reachable: Ints
    reachable_offset: Ints
    reachable_count: Ints

    @property
    def customers(self) -> int:
        """Number of customers."""
        return len(self.mean_amount)

    @property
    def terminals(self) -> int:
        """Number of terminals."""
        return len(self.terminal_xy)


def reachable_terminals(
    customer_xy: Floats, terminal_xy: Floats, radius: float
) -> tuple[Ints, Ints, Ints]:
    """The terminals within ``radius`` of each customer, as (flat ids, offsets, counts).

    Pairs are found with two k-d trees at once (no Python loop over customers); within a
    customer, terminal ids ascend, so the layout does not depend on the tree's traversal order.
    """
    pairs = cKDTree(customer_xy).sparse_distance_matrix(
        cKDTree(terminal_xy), radius, output_type="ndarray"
    )
    inside = pairs["v"] < radius  # strictly inside, as in the published design
    customer = np.asarray(pairs["i"][inside], dtype=np.int64)
    terminal = np.asarray(pairs["j"][inside], dtype=np.int64)
    order = np.lexsort((terminal, customer))
    count = np.bincount(customer, minlength=len(customer_xy)).astype(np.int64)
    offset = np.zeros(len(customer_xy), dtype=np.int64)
    np.cumsum(count[:-1], out=offset[1:])
    return terminal[order], offset, count


def draw_population(seed: int, customers: int, terminals: int, radius: float) -> Population:
    """Draw customer profiles and terminal locations, and link each customer to its terminals.

    Args:
        seed: Simulation seed; customers and terminals each use their own stream.
        customers: Number of customers (one card each).
        terminals: Number of terminals.
        radius: A customer uses the terminals within this distance.
    """
    rng = random_stream(seed, Stream.CUSTOMERS)
    customer_xy = rng.uniform(0.0, SQUARE_SIDE, size=(customers, 2))
    mean_amount = rng.uniform(*MEAN_AMOUNT_RANGE, size=customers)
    mean_daily = rng.uniform(*MEAN_DAILY_TRANSACTIONS_RANGE, size=customers)
    terminal_xy = random_stream(seed, Stream.TERMINALS).uniform(
        0.0, SQUARE_SIDE, size=(terminals, 2)
    )
    reachable, offset, count = reachable_terminals(customer_xy, terminal_xy, radius)
    return Population(
        customer_xy=customer_xy,
        mean_amount=mean_amount,
        std_amount=mean_amount / 2.0,
        mean_daily_transactions=mean_daily,
        terminal_xy=terminal_xy,
        reachable=reachable,
        reachable_offset=offset,
        reachable_count=count,
    )


__all__ = [
    "MEAN_AMOUNT_RANGE",
    "MEAN_DAILY_TRANSACTIONS_RANGE",
    "SQUARE_SIDE",
    "Population",
    "draw_population",
    "reachable_terminals",
]
