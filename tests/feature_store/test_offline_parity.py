"""Parity: the vectorised features equal a slow, obvious computation, feature by feature.

The reference below is written from the plain-English meaning of each aggregation (see
``Aggregation``): for every transaction it scans the entity's whole history in plain Python, times
as integer nanoseconds. It shares no code with the production implementation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from fraudstream.feature_store import (
    FEATURE_DEFINITION,
    FEATURE_NAMES,
    Aggregation,
    Entity,
    Feature,
    compute_features,
)
from fraudstream.transactions import contract as c

pytestmark = pytest.mark.unit

MakeTransactions = Callable[..., pd.DataFrame]

DAY = 86_400 * 10**9


@dataclass(frozen=True)
class Tx:
    id: int
    time: int  # nanoseconds
    weekday: int
    hour: int
    entity: dict[Entity, int]
    amount: float
    labelled: bool  # the file has labels (TX_FRAUD)
    fraud: bool
    label_time: int | None


def _transactions(frame: pd.DataFrame) -> list[Tx]:
    labelled = c.TX_FRAUD in frame.columns
    txs = []
    for row in frame.to_dict("records"):
        label = row.get(c.TX_LABEL_DATETIME)
        time = pd.Timestamp(row[c.TX_DATETIME])
        txs.append(
            Tx(
                id=int(row[c.TRANSACTION_ID]),
                time=_ns(time),
                weekday=time.weekday(),
                hour=time.hour,
                entity={Entity.CUSTOMER: row[c.CUSTOMER_ID], Entity.TERMINAL: row[c.TERMINAL_ID]},
                amount=float(row[c.TX_AMOUNT]),
                labelled=labelled,
                fraud=labelled and row[c.TX_FRAUD] == 1,
                label_time=None if label is None or pd.isna(label) else _ns(label),
            )
        )
    return txs


def _ns(time: pd.Timestamp) -> int:
    return int(time.as_unit("ns").value)


def _precedes(j: Tx, i: Tx) -> bool:
    """j is processed before i: earlier, or at the same instant with a smaller id."""
    return (j.time, j.id) < (i.time, i.id)


def _window(feature: Feature, i: Tx, history: list[Tx], *, with_current: bool) -> list[Tx]:
    end = i.time - feature.delay_days * DAY
    start = end - feature.window_days * DAY
    return [
        j
        for j in history
        if start < j.time <= end and (_precedes(j, i) or (with_current and j is i))
    ]


def _mean(txs: list[Tx]) -> float:
    return sum(j.amount for j in txs) / len(txs) if txs else 0.0


def _label_known(i: Tx, j: Tx) -> bool:
    return j.labelled and j.label_time is not None and j.label_time <= i.time


def _known_frauds(i: Tx, txs: list[Tx]) -> int:
    return sum(j.fraud and _label_known(i, j) for j in txs)


def _seconds_since_previous(feature: Feature, i: Tx, history: list[Tx]) -> float:
    cap = feature.window_days * 86_400.0
    earlier = [j.time for j in history if _precedes(j, i)]
    return min((i.time - max(earlier)) / 1e9, cap) if earlier else cap


def _recent_max_amount_ratio(feature: Feature, i: Tx, history: list[Tx]) -> float:
    recent_start = i.time - feature.delay_days * DAY
    recent = [j.amount for j in history if recent_start < j.time <= i.time and _precedes(j, i)]
    usual = _mean(_earlier_window(feature, i, history))
    return max(recent) / usual if recent and usual > 0 else 1.0


def _earlier_window(feature: Feature, i: Tx, history: list[Tx]) -> list[Tx]:
    return _window(feature, i, history, with_current=False)


def _amount_ratio(feature: Feature, i: Tx, history: list[Tx]) -> float:
    usual = _mean(_earlier_window(feature, i, history))
    return i.amount / usual if usual > 0 else 1.0


def _fraud_risk(feature: Feature, i: Tx, history: list[Tx]) -> float:
    window = _earlier_window(feature, i, history)
    return _known_frauds(i, window) / len(window) if window else 0.0


def _known_fraud_share(feature: Feature, i: Tx, history: list[Tx]) -> float:
    window = _earlier_window(feature, i, history)
    known = sum(_label_known(i, j) for j in window)
    return _known_frauds(i, window) / known if known else 0.0


def _seconds_since_known(*, fraud: bool, first: bool) -> Reference:
    def value(feature: Feature, i: Tx, history: list[Tx]) -> float:
        window = _earlier_window(feature, i, history)
        times = [j.time for j in window if _label_known(i, j) and j.fraud == fraud]
        if not times:
            return feature.window_days * 86_400.0
        return (i.time - (min(times) if first else max(times))) / 1e9

    return value


Reference = Callable[[Feature, Tx, list[Tx]], float]

#: Each aggregation's plain-English meaning, as a slow scan of the entity's history.
REFERENCE: dict[Aggregation, Reference] = {
    Aggregation.AMOUNT: lambda _, i, __: i.amount,
    Aggregation.WEEKEND: lambda _, i, __: float(i.weekday >= 5),
    Aggregation.NIGHT: lambda _, i, __: float(i.hour <= 6),
    Aggregation.COUNT: lambda f, i, h: float(len(_window(f, i, h, with_current=True))),
    Aggregation.MEAN_AMOUNT: lambda f, i, h: _mean(_window(f, i, h, with_current=True)),
    Aggregation.AMOUNT_RATIO: _amount_ratio,
    Aggregation.RECENT_MAX_AMOUNT_RATIO: _recent_max_amount_ratio,
    Aggregation.SECONDS_SINCE_PREVIOUS: _seconds_since_previous,
    Aggregation.FRAUD_COUNT: lambda f, i, h: float(_known_frauds(i, _earlier_window(f, i, h))),
    Aggregation.FRAUD_RISK: _fraud_risk,
    Aggregation.KNOWN_FRAUD_SHARE: _known_fraud_share,
    Aggregation.SECONDS_SINCE_FIRST_KNOWN_FRAUD: _seconds_since_known(fraud=True, first=True),
    Aggregation.SECONDS_SINCE_LAST_KNOWN_GENUINE: _seconds_since_known(fraud=False, first=False),
}


def reference_value(feature: Feature, i: Tx, history: list[Tx]) -> float:
    """The feature for transaction ``i``, ``history`` being all of its entity's transactions."""
    return REFERENCE[feature.aggregation](feature, i, history)


def reference_features(frame: pd.DataFrame, definition: tuple[Feature, ...]) -> pd.DataFrame:
    txs = _transactions(frame)
    histories: dict[tuple[Entity, int], list[Tx]] = defaultdict(list)
    for tx in txs:
        for entity, value in tx.entity.items():
            histories[entity, value].append(tx)
    columns: dict[str, list[float]] = {f.name: [] for f in definition}
    for tx in txs:
        for feature in definition:
            history = (
                []
                if feature.entity is None
                else histories[feature.entity, tx.entity[feature.entity]]
            )
            columns[feature.name].append(reference_value(feature, tx, history))
    return pd.DataFrame({c.TRANSACTION_ID: [tx.id for tx in txs], **columns}, index=frame.index)


def assert_features_match(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(actual.columns) == list(expected.columns)
    assert actual.index.equals(expected.index)
    np.testing.assert_array_equal(actual[c.TRANSACTION_ID], expected[c.TRANSACTION_ID])
    for name in expected.columns[1:]:
        np.testing.assert_allclose(
            actual[name].to_numpy(), expected[name].to_numpy(), rtol=1e-9, atol=1e-9, err_msg=name
        )


#: Every aggregation with delays and entities the declaration itself does not use.
VARIANTS = (
    Feature("T_COUNT_D3_W2", Aggregation.COUNT, Entity.TERMINAL, 2, 3),
    Feature("T_MEAN_D3_W2", Aggregation.MEAN_AMOUNT, Entity.TERMINAL, 2, 3),
    Feature("C_MEAN_D1_W1", Aggregation.MEAN_AMOUNT, Entity.CUSTOMER, 1, 1),
    Feature("C_RISK_D0_W5", Aggregation.FRAUD_RISK, Entity.CUSTOMER, 5, 0),
    Feature("T_RISK_D2_W3", Aggregation.FRAUD_RISK, Entity.TERMINAL, 3, 2),
    Feature("C_FRAUDS_D0_W1", Aggregation.FRAUD_COUNT, Entity.CUSTOMER, 1, 0),
    Feature("T_FRAUDS_D1_W1", Aggregation.FRAUD_COUNT, Entity.TERMINAL, 1, 1),
    Feature("T_RATIO_W1", Aggregation.AMOUNT_RATIO, Entity.TERMINAL, 1),
    Feature("T_GAP_W1", Aggregation.SECONDS_SINCE_PREVIOUS, Entity.TERMINAL, 1),
    Feature("C_COUNT_D7_W7", Aggregation.COUNT, Entity.CUSTOMER, 7, 7),
    Feature("T_RATIO_D2_W3", Aggregation.AMOUNT_RATIO, Entity.TERMINAL, 3, 2),
    Feature("C_RECENT_MAX_D1_W2", Aggregation.RECENT_MAX_AMOUNT_RATIO, Entity.CUSTOMER, 2, 1),
    Feature("T_RECENT_MAX_D3_W1", Aggregation.RECENT_MAX_AMOUNT_RATIO, Entity.TERMINAL, 1, 3),
    Feature("C_SHARE_D0_W3", Aggregation.KNOWN_FRAUD_SHARE, Entity.CUSTOMER, 3, 0),
    Feature("T_SHARE_D2_W2", Aggregation.KNOWN_FRAUD_SHARE, Entity.TERMINAL, 2, 2),
    Feature("C_FIRST_FRAUD_W4", Aggregation.SECONDS_SINCE_FIRST_KNOWN_FRAUD, Entity.CUSTOMER, 4),
    Feature("T_FIRST_FRAUD_W1", Aggregation.SECONDS_SINCE_FIRST_KNOWN_FRAUD, Entity.TERMINAL, 1),
    Feature("C_LAST_GENUINE_W1", Aggregation.SECONDS_SINCE_LAST_KNOWN_GENUINE, Entity.CUSTOMER, 1),
    Feature("T_LAST_GENUINE_W8", Aggregation.SECONDS_SINCE_LAST_KNOWN_GENUINE, Entity.TERMINAL, 8),
)


def test_reference_covers_every_declared_feature() -> None:
    assert set(Aggregation) == {f.aggregation for f in FEATURE_DEFINITION + VARIANTS}
    assert len(FEATURE_NAMES) == len(FEATURE_DEFINITION)


def test_offline_features_equal_the_reference_on_a_random_log(transactions: pd.DataFrame) -> None:
    expected = reference_features(transactions, FEATURE_DEFINITION)
    assert_features_match(compute_features(transactions), expected)


@pytest.mark.parametrize(
    ("seed", "rows", "customers", "terminals", "days"),
    [
        (7, 4_000, 20, 12, 60),  # long histories, crowded windows
        (8, 3_000, 400, 300, 90),  # mostly empty windows
    ],
)
def test_offline_features_equal_the_reference_on_dense_and_sparse_logs(
    make_transactions: MakeTransactions,
    seed: int,
    rows: int,
    customers: int,
    terminals: int,
    days: int,
) -> None:
    frame = make_transactions(
        seed=seed, rows=rows, customers=customers, terminals=terminals, days=days
    )
    expected = reference_features(frame, FEATURE_DEFINITION)
    assert_features_match(compute_features(frame), expected)


@pytest.mark.parametrize("seed", [1, 2])
def test_every_aggregation_with_other_windows_and_delays_equals_the_reference(
    make_transactions: MakeTransactions, seed: int
) -> None:
    frame = make_transactions(seed=seed, rows=1_200, customers=15, terminals=10, days=20)
    expected = reference_features(frame, VARIANTS)
    assert_features_match(compute_features(frame, VARIANTS), expected)


def test_a_log_sorted_by_time_gives_the_same_rows(transactions: pd.DataFrame) -> None:
    ordered = transactions.sort_values([c.TX_DATETIME, c.TRANSACTION_ID]).reset_index(drop=True)
    shuffled = compute_features(transactions).set_index(c.TRANSACTION_ID).sort_index()
    in_order = compute_features(ordered).set_index(c.TRANSACTION_ID).sort_index()
    pd.testing.assert_frame_equal(shuffled, in_order, rtol=0, atol=1e-12)


def test_nanosecond_times_and_large_ids_give_the_reference_values(
    make_transactions: MakeTransactions,
) -> None:
    frame = make_transactions(seed=5, rows=600, customers=8, terminals=6, days=15)
    frame[c.TX_DATETIME] = frame[c.TX_DATETIME].astype("datetime64[ns]") + pd.to_timedelta(
        np.arange(len(frame)) % 3, unit="ns"
    )
    frame[c.TX_LABEL_DATETIME] = frame[c.TX_LABEL_DATETIME].astype("datetime64[ns]")
    frame[c.CUSTOMER_ID] = frame[c.CUSTOMER_ID] * 10**12 - 5  # beyond the radix-sort fast path
    frame[c.TRANSACTION_ID] = frame[c.TRANSACTION_ID] * 10**9
    expected = reference_features(frame, FEATURE_DEFINITION)
    assert_features_match(compute_features(frame), expected)


def test_offline_features_equal_the_reference_on_a_small_simulation() -> None:
    from fraudstream.simulator import SimulatorConfig, simulate

    frame = simulate(SimulatorConfig(customers=60, terminals=120, days=45, seed=3))
    assert len(frame) > 2_000
    expected = reference_features(frame, FEATURE_DEFINITION)
    assert_features_match(compute_features(frame), expected)
