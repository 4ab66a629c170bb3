"""Fixtures of the simulator tests: small simulated frames, made once per session."""

from __future__ import annotations

import pandas as pd
import pytest

from fraudstream.simulator import SimulatorConfig, simulate

#: Small enough to simulate in a few tens of milliseconds; dense enough for every scenario.
SMALL = SimulatorConfig(customers=600, terminals=1200, days=50, seed=11)


@pytest.fixture(scope="session")
def small_config() -> SimulatorConfig:
    """A small configuration without drift."""
    return SMALL


@pytest.fixture(scope="session")
def small_frame() -> pd.DataFrame:
    """The frame of :data:`SMALL` (do not modify it: it is shared)."""
    return simulate(SMALL)
