"""Independent random streams, one per part of the simulation, all derived from one seed.

Each part (customers, terminals, transactions, each fraud scenario, the label timing, each
injected drift) draws from its own :class:`numpy.random.Generator`, made from
``SeedSequence(seed, spawn_key=(part, index))``. Parts therefore never consume each other's
numbers: adding a ``--drift`` spec, or changing the number of terminals, leaves every other
part's draws unchanged. Within a part, the draws happen in a fixed order.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Stream(IntEnum):
    """The parts of the simulation that draw random numbers; the value is the spawn key."""

    CUSTOMERS = 0
    TERMINALS = 1
    TRANSACTIONS = 2
    COMPROMISED_TERMINALS = 3
    COMPROMISED_CARDS = 4
    LABELS = 5
    DRIFT = 6


def random_stream(seed: int, part: Stream, index: int = 0) -> np.random.Generator:
    """Return the generator of one part of the simulation.

    Args:
        seed: The simulation seed (``SimulatorConfig.seed``).
        part: Which part draws from the stream.
        index: Distinguishes several streams of one part (the position of a drift spec).
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(int(part), index)))


__all__ = ["Stream", "random_stream"]
