"""When labels become known: the label timing every point-in-time computation relies on."""

from __future__ import annotations

import pandas as pd

from fraudstream.transactions.contract import TX_DATETIME, TX_LABEL_DATETIME


def with_label_times(frame: pd.DataFrame, default_delay_days: float) -> pd.DataFrame:
    """Return ``frame`` with a ``TX_LABEL_DATETIME`` column, adding one where it is missing.

    A file in the handbook's layout says nothing about when its labels became known; such a
    file gets the configured default delay (no jitter). A frame that already has the column is
    returned unchanged (not copied).

    Args:
        frame: Transactions with ``TX_DATETIME`` (datetime64).
        default_delay_days: Days between a transaction and the moment its label is known.
    """
    if TX_LABEL_DATETIME in frame.columns:
        return frame
    if default_delay_days < 0:
        msg = f"the label delay must be >= 0 days, got {default_delay_days}"
        raise ValueError(msg)
    return frame.assign(
        **{TX_LABEL_DATETIME: frame[TX_DATETIME] + pd.Timedelta(days=default_delay_days)}
    )


__all__ = ["with_label_times"]
