"""The simulator's configuration: one frozen pydantic model, validated once at the edge."""

from __future__ import annotations

from datetime import date
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fraudstream.simulator.drift import (
    AmountShiftDrift,
    DriftSpec,
    NewPatternDrift,
    TerminalBurstDrift,
)

_Spec = TypeVar("_Spec", NewPatternDrift, AmountShiftDrift, TerminalBurstDrift)

#: The handbook's reference run starts on this day.
REFERENCE_START_DATE = date(2018, 4, 1)


class SimulatorConfig(BaseModel):
    """Everything that determines a simulated transaction log; equal configs give equal frames.

    The defaults are the handbook's reference size (5,000 customers, 10,000 terminals, 183 days
    from 2018-04-01, radius 5). ``seed`` 0 is an arbitrary, documented choice.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    customers: int = Field(default=5000, ge=1, le=10_000_000, description="Number of cards.")
    terminals: int = Field(default=10_000, ge=1, le=10_000_000, description="Number of terminals.")
    days: int = Field(default=183, ge=1, le=36_500, description="Days simulated.")
    start_date: date = Field(default=REFERENCE_START_DATE, description="Day 0, from midnight.")
    radius: float = Field(
        default=5.0, gt=0.0, le=150.0, description="A card uses the terminals this close."
    )
    seed: int = Field(default=0, ge=0, description="Seed of every random draw.")
    label_delay_days: float = Field(
        default=7.0, ge=0.0, le=3650.0, description="Days until a transaction's label is known."
    )
    label_jitter_days: float = Field(
        default=1.0, ge=0.0, le=3650.0, description="Uniform ± jitter around the label delay."
    )
    drift: tuple[DriftSpec, ...] = Field(default=(), description="Changes injected on purpose.")

    @model_validator(mode="after")
    def _drift_fits(self) -> SimulatorConfig:
        for position, spec in enumerate(self.drift, start=1):
            where = f"drift spec #{position} ({spec.kind})"
            if spec.from_day >= self.days:
                msg = f"{where}: from={spec.from_day} is not a simulated day (days are 0..{self.days - 1})"
                raise ValueError(msg)
            if isinstance(spec, TerminalBurstDrift) and spec.terminals > self.terminals:
                msg = f"{where}: terminals={spec.terminals} exceeds the {self.terminals} terminals simulated"
                raise ValueError(msg)
            if isinstance(spec, NewPatternDrift) and spec.cards > self.customers:
                msg = (
                    f"{where}: cards={spec.cards} exceeds the {self.customers} customers simulated"
                )
                raise ValueError(msg)
        return self

    def drift_of(self, kind: type[_Spec]) -> list[tuple[int, _Spec]]:
        """The drift specs of one kind, each with its position (which names its random stream)."""
        return [(i, spec) for i, spec in enumerate(self.drift) if isinstance(spec, kind)]


__all__ = ["REFERENCE_START_DATE", "SimulatorConfig"]
