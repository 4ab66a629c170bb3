"""The transaction simulator: the handbook's published design, vectorised, plus drift injection.

``simulate(SimulatorConfig(...))`` returns a transaction frame in the contract's file layout;
``parse_drift`` reads the ``--drift`` syntax. See
``docs/simulator.md``.
"""

from fraudstream.simulator.config import REFERENCE_START_DATE, SimulatorConfig
from fraudstream.simulator.drift import (
    DRIFT_KINDS,
    AmountShiftDrift,
    DriftSpec,
    NewPatternDrift,
    TerminalBurstDrift,
    format_drift,
    parse_drift,
)
from fraudstream.simulator.engine import simulate

__all__ = [
    "DRIFT_KINDS",
    "REFERENCE_START_DATE",
    "AmountShiftDrift",
    "DriftSpec",
    "NewPatternDrift",
    "SimulatorConfig",
    "TerminalBurstDrift",
    "format_drift",
    "parse_drift",
    "simulate",
]
