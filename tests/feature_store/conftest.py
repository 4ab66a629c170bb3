"""Random transaction logs built to stress the point-in-time rules of the feature store.

Times fall mostly on a whole-hour grid, so exact ties in ``TX_DATETIME`` and transactions exactly
one window length apart (the open/closed window ends) are common; the rest are at random seconds.
Label delays vary: 0, an hour, days, exactly 7 days, just under and over 7 days, weeks, and a few
labels never known (NaT). The rows come shuffled: the input order is not the event order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from fraudstream.transactions import contract as c

START = pd.Timestamp("2018-04-01")
_LABEL_DELAYS_S = np.array(
    [
        0,
        3_600,
        86_400,
        3 * 86_400,
        7 * 86_400 - 1,
        7 * 86_400,
        7 * 86_400 + 1,
        10 * 86_400,
        30 * 86_400,
    ]
)

MakeTransactions = Callable[..., pd.DataFrame]


def random_transactions(
    seed: int,
    rows: int = 2_500,
    customers: int = 40,
    terminals: int = 25,
    days: int = 50,
    fraud_rate: float = 0.12,
) -> pd.DataFrame:
    """A shuffled random transaction log in the contract's file layout."""
    rng = np.random.default_rng(seed)
    on_grid = rng.random(rows) < 0.6
    seconds = np.where(
        on_grid,
        rng.integers(0, days * 24, rows) * 3_600,
        rng.integers(0, days * 86_400, rows),
    )
    seconds = np.sort(seconds)
    # Ids increase with time (random gaps); within a tie their order is random.
    ids = np.cumsum(rng.integers(1, 4, rows)) + 1_000
    for tie in np.unique(seconds[np.r_[False, seconds[1:] == seconds[:-1]]]):
        where = np.flatnonzero(seconds == tie)
        ids[where] = rng.permutation(ids[where])
    amount = np.round(rng.gamma(2.0, 40.0, rows), 2)
    amount[rng.random(rows) < 0.02] = 0.0
    odd = rng.random(rows) < 0.05
    amount[odd] = rng.random(odd.sum()) * 300.0  # not whole cents
    fraud = (rng.random(rows) < fraud_rate).astype(np.int64)
    times = START + pd.to_timedelta(seconds, unit="s")
    labels = times + pd.to_timedelta(rng.choice(_LABEL_DELAYS_S, rows), unit="s")
    labels = labels.where(rng.random(rows) > 0.02)  # a few labels never arrive
    frame = pd.DataFrame(
        {
            c.TRANSACTION_ID: ids.astype(np.int64),
            c.TX_DATETIME: times,
            c.CUSTOMER_ID: rng.integers(0, customers, rows),
            c.TERMINAL_ID: rng.integers(0, terminals, rows) * 7 + 3,
            c.TX_AMOUNT: amount,
            c.TX_TIME_SECONDS: seconds.astype(np.int64),
            c.TX_TIME_DAYS: (seconds // 86_400).astype(np.int64),
            c.TX_FRAUD: fraud,
            c.TX_FRAUD_SCENARIO: fraud * rng.integers(1, 4, rows),
            c.TX_LABEL_DATETIME: labels,
        }
    )
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


@pytest.fixture
def make_transactions() -> MakeTransactions:
    """The random log generator (:func:`random_transactions`)."""
    return random_transactions


@pytest.fixture(scope="session")
def transactions() -> pd.DataFrame:
    """One random log of 2,500 transactions (treat as read-only)."""
    return random_transactions(seed=20180401)
