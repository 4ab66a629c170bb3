"""Point in time: nothing that happens after a transaction changes its features."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from fraudstream.feature_store import FEATURE_NAMES, compute_features
from fraudstream.transactions import contract as c

pytestmark = pytest.mark.unit

MakeTransactions = Callable[..., pd.DataFrame]


def _cut(frame: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.Timestamp, int]:
    """A cut inside a group of transactions sharing one instant, so the tie rule matters."""
    times = frame[c.TX_DATETIME]
    tied = frame[times.duplicated(keep=False) & (times > times.quantile(0.4))]
    instant = tied[c.TX_DATETIME].min()
    ids = np.sort(frame.loc[times == instant, c.TRANSACTION_ID].to_numpy())
    return instant, int(ids[rng.integers(0, ids.size - 1)])


def _after(frame: pd.DataFrame, instant: pd.Timestamp, last_id: int) -> pd.Series:
    """Rows ordered after the cut: later, or at the same instant with a larger id."""
    times = frame[c.TX_DATETIME]
    return (times > instant) | ((times == instant) & (frame[c.TRANSACTION_ID] > last_id))


def _rewrite_the_future(
    frame: pd.DataFrame, instant: pd.Timestamp, last_id: int, rng: np.random.Generator
) -> pd.DataFrame:
    """Change everything ordered after the cut, and every label not yet known at the cut."""
    changed = frame.copy()
    after = _after(changed, instant, last_id).to_numpy()
    n_after = int(after.sum())
    changed.loc[after, c.TX_AMOUNT] = np.round(rng.gamma(2.0, 80.0, n_after), 2)
    changed.loc[after, c.TX_FRAUD] = 1 - changed.loc[after, c.TX_FRAUD]
    changed.loc[after, c.CUSTOMER_ID] = rng.permutation(
        changed.loc[after, c.CUSTOMER_ID].to_numpy()
    )
    # A later transaction's label may even claim a time before the cut: it is still not usable.
    shift = pd.to_timedelta(rng.integers(-40 * 86_400, 40 * 86_400, n_after), unit="s")
    changed.loc[after, c.TX_LABEL_DATETIME] = changed.loc[after, c.TX_DATETIME] + shift
    unknown = ~after & (changed[c.TX_LABEL_DATETIME] > instant).to_numpy()
    n_unknown = int(unknown.sum())
    changed.loc[unknown, c.TX_FRAUD] = rng.integers(0, 2, n_unknown)
    later = pd.to_timedelta(rng.integers(1, 20 * 86_400, n_unknown), unit="s")
    changed.loc[unknown, c.TX_LABEL_DATETIME] = instant + later
    never = unknown & (rng.random(len(changed)) < 0.3)
    changed.loc[never, c.TX_LABEL_DATETIME] = pd.NaT
    dropped = after & (rng.random(len(changed)) < 0.2)
    return changed[~dropped]


def _new_transactions(
    frame: pd.DataFrame, instant: pd.Timestamp, rng: np.random.Generator, rows: int = 300
) -> pd.DataFrame:
    """New transactions at the cut's instant (larger ids) and after it, on the same cards."""
    seconds = np.where(rng.random(rows) < 0.3, 0, rng.integers(1, 30 * 86_400, rows))
    times = instant + pd.to_timedelta(seconds, unit="s")
    return pd.DataFrame(
        {
            c.TRANSACTION_ID: frame[c.TRANSACTION_ID].max() + 1 + np.arange(rows),
            c.TX_DATETIME: times,
            c.CUSTOMER_ID: rng.choice(frame[c.CUSTOMER_ID].unique(), rows),
            c.TERMINAL_ID: rng.choice(frame[c.TERMINAL_ID].unique(), rows),
            c.TX_AMOUNT: np.round(rng.gamma(2.0, 40.0, rows), 2),
            c.TX_TIME_SECONDS: 0,
            c.TX_TIME_DAYS: 0,
            c.TX_FRAUD: 1,
            c.TX_FRAUD_SCENARIO: 2,
            c.TX_LABEL_DATETIME: times,
        }
    )


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_changing_the_future_changes_no_feature_at_or_before_the_cut(
    make_transactions: MakeTransactions, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    frame = make_transactions(seed=seed)
    instant, last_id = _cut(frame, rng)
    changed = _rewrite_the_future(frame, instant, last_id, rng)
    changed = pd.concat([changed, _new_transactions(frame, instant, rng)], ignore_index=True)
    changed = changed.sample(frac=1.0, random_state=seed)

    kept = frame.loc[~_after(frame, instant, last_id), c.TRANSACTION_ID].to_numpy()
    original = compute_features(frame).set_index(c.TRANSACTION_ID)
    rewritten = compute_features(changed).set_index(c.TRANSACTION_ID)

    assert len(kept) > 500
    # Sums differ from each other only in float rounding (they add up different rows elsewhere).
    pd.testing.assert_frame_equal(
        rewritten.loc[kept], original.loc[kept], check_exact=False, rtol=1e-12, atol=1e-9
    )
    # The rewrite did change the features after the cut: the comparison above could fail.
    later = original.index.difference(kept).intersection(rewritten.index)
    assert (rewritten.loc[later] != original.loc[later]).any(axis=None)


def test_a_label_known_after_the_transaction_no_longer_counts_in_its_terminal_risk(
    transactions: pd.DataFrame,
) -> None:
    features = compute_features(transactions).set_index(c.TRANSACTION_ID)
    frame = transactions.set_index(c.TRANSACTION_ID)
    # A transaction whose 30-day terminal risk counts at least one known fraud.
    scored = features[features["TERMINAL_ID_RISK_30DAY_WINDOW"] > 0].index[0]
    t = frame.at[scored, c.TX_DATETIME]
    window = frame[
        (frame[c.TERMINAL_ID] == frame.at[scored, c.TERMINAL_ID])
        & (frame[c.TX_DATETIME] > t - pd.Timedelta(days=37))
        & (frame[c.TX_DATETIME] <= t - pd.Timedelta(days=7))
        & (frame[c.TX_FRAUD] == 1)
        & (frame[c.TX_LABEL_DATETIME] <= t)
    ]
    fraud = window.index[0]

    moved = transactions.copy()
    moved.loc[moved[c.TRANSACTION_ID] == fraud, c.TX_LABEL_DATETIME] = t + pd.Timedelta(seconds=1)
    after = compute_features(moved).set_index(c.TRANSACTION_ID)

    nb_tx = features.at[scored, "TERMINAL_ID_NB_TX_30DAY_WINDOW"]
    assert after.at[scored, "TERMINAL_ID_NB_TX_30DAY_WINDOW"] == nb_tx
    assert after.at[scored, "TERMINAL_ID_RISK_30DAY_WINDOW"] == pytest.approx(
        features.at[scored, "TERMINAL_ID_RISK_30DAY_WINDOW"] - 1 / nb_tx
    )
    # Once known exactly at t the fraud counts again (the label condition is <= t).
    moved.loc[moved[c.TRANSACTION_ID] == fraud, c.TX_LABEL_DATETIME] = t
    again = compute_features(moved).set_index(c.TRANSACTION_ID)
    pd.testing.assert_series_equal(again.loc[scored], features.loc[scored])


def test_features_of_a_prefix_of_the_log_equal_those_of_the_whole_log(
    transactions: pd.DataFrame,
) -> None:
    """Scoring a log as it grows (a stream) gives each transaction its final features."""
    ordered = transactions.sort_values([c.TX_DATETIME, c.TRANSACTION_ID])
    prefix = ordered.iloc[: len(ordered) // 2]
    whole = compute_features(transactions).set_index(c.TRANSACTION_ID)
    partial = compute_features(prefix).set_index(c.TRANSACTION_ID)
    pd.testing.assert_frame_equal(
        partial, whole.loc[partial.index], check_exact=False, rtol=1e-12, atol=1e-9
    )
    assert list(partial.columns) == list(FEATURE_NAMES)
