"""Worked examples, label handling and input checks of ``compute_features``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudstream.errors import DataValidationError
from fraudstream.feature_store import FEATURE_NAMES, compute_features
from fraudstream.feature_store.definition import FEATURE_DEFINITION
from fraudstream.feature_store.vocabulary import LABEL_BASED
from fraudstream.transactions import contract as c

pytestmark = pytest.mark.unit

CAP = 30 * 86_400.0
# id, time, customer, terminal, amount, fraud, label known at. 2018-04-02 is a Monday.
ROWS = [
    (1, "2018-04-02 10:00", 1, 10, 100.0, 1, "2018-04-05 10:00"),
    (2, "2018-04-02 10:00", 1, 10, 50.0, 0, "2018-04-09 10:00"),
    (3, "2018-04-03 10:00", 1, 11, 30.0, 0, "2018-04-10 10:00"),
    (4, "2018-04-07 06:30", 2, 10, 20.0, 0, "2018-04-14 06:30"),
    (5, "2018-04-09 10:00", 1, 10, 90.0, 0, "2018-04-16 10:00"),
    (6, "2018-04-09 10:00", 1, 10, 10.0, 1, "2018-04-09 10:00"),
    (7, "2018-04-10 10:00", 3, 10, 5.0, 0, "2018-04-17 10:00"),
]
# Worked out by hand, in FEATURE_NAMES order: amount, weekend, night; card NB/AVG 1, 7, 30 days;
# terminal NB/RISK 1, 7, 30 days (window ending 7 days ago); amount ratio, seconds since the
# card's previous transaction, known frauds on the card (30 d) and at the terminal (28 d); the
# card's largest amount of the last 14 days / its usual mean (30 days ending 14 days ago: empty
# here, so 1); the terminal's known-fraud share (14 d) and seconds since its first known fraud and
# its last known genuine transaction (35 d).
BASE = {
    # First of a tie at 10:00: alone in its windows; nothing earlier.
    1: [100, 0, 0, 1, 100, 1, 100, 1, 100, 0, 0, 0, 0, 0, 0, 1, CAP, 0, 0],
    # Second of the tie: sees #1 (ratio 50/100, gap 0), not #1's label (known 04-05).
    2: [50, 0, 0, 2, 75, 2, 75, 2, 75, 0, 0, 0, 0, 0, 0, 0.5, 0, 0, 0],
    3: [30, 0, 0, 1, 30, 3, 60, 3, 60, 0, 0, 0, 0, 0, 0, 0.4, 86_400, 0, 0],
    # Saturday 06:30; terminal 10 has #1 and #2, and #1's fraud label is known by now.
    4: [20, 1, 1, 1, 20, 1, 20, 1, 20, 0, 0, 0, 0, 0, 0, 1, CAP, 0, 1],
    # 04-09 10:00: the 7-day card window (04-02 10:00, 04-09 10:00] leaves out #1 and #2; the
    # terminal window (04-01 10:00, 04-02 10:00] keeps them: 1 known fraud of 2.
    5: [90, 0, 0, 1, 90, 2, 60, 4, 67.5, 2, 0.5, 2, 0.5, 2, 0.5, 1.5, 6 * 86_400, 1, 1],
    # Tied with #5 (larger id): sees #5; its own label (known at once) is never used.
    6: [10, 0, 0, 2, 50, 3, 130 / 3, 5, 56, 2, 0.5, 2, 0.5, 2, 0.5, 10 / 67.5, 0, 1, 1],
    # The 1-day terminal window (04-02 10:00, 04-03 10:00] is empty: count 0, risk 0. #6's
    # label, known at 04-09 10:00, now counts at the terminal.
    7: [5, 0, 0, 1, 5, 1, 5, 1, 5, 0, 0, 2, 0.5, 2, 0.5, 1, CAP, 0, 2],
}
CAP35 = 35 * 86_400.0
NEW = {
    # Terminal 10 knows no label before 04-05 10:00 (#1, fraud); terminal 11 has only #3.
    1: [1, 0, CAP35, CAP35],
    2: [1, 0, CAP35, CAP35],
    3: [1, 0, CAP35, CAP35],
    # Knows #1 (fraud, 4 d 20.5 h ago), not yet #2 (genuine, known 04-09 10:00): share 1/1.
    4: [1, 1, 419_400, CAP35],
    # Knows #1 (fraud) and #2 (genuine, known exactly now), not #4: share 1/2.
    5: [1, 0.5, 7 * 86_400, 7 * 86_400],
    6: [1, 0.5, 7 * 86_400, 7 * 86_400],
    # Knows #1, #2 and #6 (fraud, a day ago); #4 and #5 not yet: share 2/3, first fraud #1.
    7: [1, 2 / 3, 8 * 86_400, 8 * 86_400],
}
EXPECTED = {tx: BASE[tx] + NEW[tx] for tx in BASE}


@pytest.fixture
def tiny() -> pd.DataFrame:
    frame = pd.DataFrame(
        ROWS,
        columns=[
            c.TRANSACTION_ID,
            c.TX_DATETIME,
            c.CUSTOMER_ID,
            c.TERMINAL_ID,
            c.TX_AMOUNT,
            c.TX_FRAUD,
            c.TX_LABEL_DATETIME,
        ],
    )
    for column in (c.TX_DATETIME, c.TX_LABEL_DATETIME):
        frame[column] = pd.to_datetime(frame[column])
    return frame.iloc[::-1].set_axis(list("gfedcba"))  # not in time order, custom index


def _by_id(features: pd.DataFrame) -> pd.DataFrame:
    return features.set_index(c.TRANSACTION_ID).sort_index()


def test_worked_examples_match_the_hand_computed_values(tiny: pd.DataFrame) -> None:
    features = _by_id(compute_features(tiny))
    expected = pd.DataFrame.from_dict(EXPECTED, orient="index", columns=list(FEATURE_NAMES))
    pd.testing.assert_frame_equal(features, expected.astype(float), check_names=False, rtol=1e-12)


def test_output_keeps_the_input_rows_index_and_gives_float_features(tiny: pd.DataFrame) -> None:
    features = compute_features(tiny)
    assert list(features.columns) == [c.TRANSACTION_ID, *FEATURE_NAMES]
    assert features.index.equals(tiny.index)
    assert features[c.TRANSACTION_ID].tolist() == tiny[c.TRANSACTION_ID].tolist()
    assert features[c.TRANSACTION_ID].dtype == np.int64
    assert (features[list(FEATURE_NAMES)].dtypes == np.float64).all()


def test_a_label_known_one_second_too_late_leaves_the_terminal_risk_at_zero(
    tiny: pd.DataFrame,
) -> None:
    late = tiny.copy()
    late.loc[late[c.TRANSACTION_ID] == 1, c.TX_LABEL_DATETIME] = pd.Timestamp("2018-04-09 10:00:01")
    features = _by_id(compute_features(late))
    assert features.loc[5, "TERMINAL_ID_RISK_1DAY_WINDOW"] == 0
    assert features.loc[5, "TERMINAL_ID_NB_TX_1DAY_WINDOW"] == 2  # the transactions still count
    assert features.loc[5, "CUSTOMER_ID_NB_FRAUD_KNOWN_30DAY_WINDOW"] == 0
    assert features.loc[4, "TERMINAL_ID_NB_FRAUD_KNOWN_28DAY_WINDOW"] == 0
    assert features.loc[7, "TERMINAL_ID_RISK_7DAY_WINDOW"] == 0.5  # known by 04-10


def test_missing_label_times_default_to_seven_days_after_the_transaction(
    transactions: pd.DataFrame,
) -> None:
    assumed = transactions.assign(
        **{c.TX_LABEL_DATETIME: transactions[c.TX_DATETIME] + pd.Timedelta(days=7)}
    )
    pd.testing.assert_frame_equal(
        compute_features(transactions.drop(columns=c.TX_LABEL_DATETIME)),
        compute_features(assumed),
    )


def test_the_default_label_delay_can_be_chosen(tiny: pd.DataFrame) -> None:
    unlabelled_times = tiny.drop(columns=c.TX_LABEL_DATETIME)
    features = _by_id(compute_features(unlabelled_times, default_label_delay_days=0))
    assert features.loc[2, "CUSTOMER_ID_NB_FRAUD_KNOWN_30DAY_WINDOW"] == 1  # #1 known at once


def test_events_without_labels_have_no_known_frauds(transactions: pd.DataFrame) -> None:
    events = transactions[list(c.EVENT_COLUMNS)]
    unlabelled = compute_features(events)
    labelled = compute_features(transactions)
    label_based = [f for f in FEATURE_DEFINITION if f.aggregation in LABEL_BASED]
    assert len(label_based) == 8
    for feature in label_based:
        # Nothing known: counts and shares are 0, "seconds since" is the whole window.
        nothing = feature.window_days * 86_400.0 if feature.name.count("SECONDS_SINCE") else 0.0
        assert (unlabelled[feature.name] == nothing).all(), feature.name
        assert (labelled[feature.name] != nothing).any(), feature.name
    names = [f.name for f in label_based]
    others = [n for n in unlabelled.columns if n not in names]
    pd.testing.assert_frame_equal(unlabelled[others], labelled[others])


def test_labels_never_known_count_as_unknown(tiny: pd.DataFrame) -> None:
    unknown = tiny.copy()
    unknown.loc[unknown[c.TRANSACTION_ID] == 1, c.TX_LABEL_DATETIME] = pd.NaT
    features = _by_id(compute_features(unknown))
    assert (
        features.loc[5, ["TERMINAL_ID_RISK_1DAY_WINDOW", "TERMINAL_ID_RISK_30DAY_WINDOW"]] == 0
    ).all()


def test_an_empty_log_gives_an_empty_table(tiny: pd.DataFrame) -> None:
    features = compute_features(tiny.iloc[:0])
    assert features.empty
    assert list(features.columns) == [c.TRANSACTION_ID, *FEATURE_NAMES]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: f.drop(columns=c.TERMINAL_ID), "TERMINAL_ID missing"),
        (lambda f: f.assign(**{c.TRANSACTION_ID: 1}), "repeated ids"),
        (lambda f: f.assign(**{c.TX_DATETIME: f[c.TX_DATETIME].astype(str)}), "datetime64"),
        (lambda f: f.assign(**{c.TX_DATETIME: f[c.TX_DATETIME].dt.tz_localize("UTC")}), "timezone"),
        (
            lambda f: f.assign(**{c.TX_DATETIME: f[c.TX_DATETIME].where(f.index != "a")}),
            "missing times",
        ),
        (lambda f: f.assign(**{c.TX_AMOUNT: -f[c.TX_AMOUNT]}), "negative"),
        (lambda f: f.assign(**{c.TX_AMOUNT: f[c.TX_AMOUNT].where(f.index != "a")}), "missing"),
        (lambda f: f.assign(**{c.TX_FRAUD: f[c.TX_FRAUD] * 2}), "other than 0 and 1"),
        (lambda f: f.assign(**{c.CUSTOMER_ID: f[c.CUSTOMER_ID] + 0.5}), "non-integer"),
        (lambda f: f.assign(**{c.CUSTOMER_ID: f[c.CUSTOMER_ID].astype(str)}), "integers"),
    ],
)
def test_unusable_input_is_rejected_with_the_column_named(
    tiny: pd.DataFrame, edit: object, message: str
) -> None:
    with pytest.raises(DataValidationError, match=message):
        compute_features(edit(tiny))  # type: ignore[operator]
