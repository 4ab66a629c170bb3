"""A few numbers that describe a transaction log: size, span, fraud rate and fraud mix."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from pydantic import BaseModel, ConfigDict

from fraudstream.transactions.contract import (
    CUSTOMER_ID,
    SCENARIOS,
    TERMINAL_ID,
    TX_DATETIME,
    TX_FRAUD,
    TX_FRAUD_SCENARIO,
)

_HANDBOOK_SCENARIOS = 3


class TransactionSummary(BaseModel):
    """Size, fraud rate and fraud mix of a transaction frame.

    Attributes:
        rows: Transactions.
        frauds: Fraudulent transactions.
        fraud_rate: ``frauds / rows`` (0 for an empty frame).
        scenario_counts: Transactions per scenario code, every code of the contract listed.
        scenario_shares: Share of the frauds per fraud scenario (codes 1..4; 0 when no fraud).
        active_customers: Customers with at least one transaction.
        active_terminals: Terminals with at least one transaction.
        first_datetime: Earliest transaction (None for an empty frame).
        last_datetime: Latest transaction (None for an empty frame).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rows: int
    frauds: int
    fraud_rate: float
    scenario_counts: dict[int, int]
    scenario_shares: dict[int, float]
    active_customers: int
    active_terminals: int
    first_datetime: datetime | None
    last_datetime: datetime | None

    def scenario_mix(self) -> str:
        """The fraud mix on one line, e.g. ``amount over 220 973 (6.6%), compromised …``.

        The handbook's scenarios 1-3 are always listed; later codes only when present.
        """
        return ", ".join(
            f"{SCENARIOS[code]} {self.scenario_counts[code]:,} ({self.scenario_shares[code]:.1%})"
            for code in self.scenario_shares
            if code <= _HANDBOOK_SCENARIOS or self.scenario_counts[code]
        )


def summarize(frame: pd.DataFrame) -> TransactionSummary:
    """Summarise a transaction frame in the contract's layout (without labels: no frauds)."""
    rows = len(frame)
    labelled = TX_FRAUD in frame and TX_FRAUD_SCENARIO in frame
    counts = frame[TX_FRAUD_SCENARIO].value_counts() if labelled else pd.Series(dtype="int64")
    scenario_counts = {code: int(counts.get(code, 0)) for code in SCENARIOS}
    frauds = int(frame[TX_FRAUD].sum()) if labelled else 0
    shares = {code: (n / frauds if frauds else 0.0) for code, n in scenario_counts.items() if code}
    times = frame[TX_DATETIME]
    return TransactionSummary(
        rows=rows,
        frauds=frauds,
        fraud_rate=frauds / rows if rows else 0.0,
        scenario_counts=scenario_counts,
        scenario_shares=shares,
        active_customers=int(frame[CUSTOMER_ID].nunique()),
        active_terminals=int(frame[TERMINAL_ID].nunique()),
        first_datetime=times.min().to_pydatetime() if rows else None,
        last_datetime=times.max().to_pydatetime() if rows else None,
    )


__all__ = ["TransactionSummary", "summarize"]
