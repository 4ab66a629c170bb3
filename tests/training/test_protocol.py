"""The protocol's windows, its label cut-off and its known-card removal, on hand-built data."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from fraudstream.training.metrics import (
    alert_threshold,
    card_precision_per_day,
    card_precision_top_k,
    evaluate,
)
from fraudstream.training.protocol import ProtocolConfig, split

pytestmark = pytest.mark.unit

START = date(2018, 7, 25)
#: 2 train days, 2 delay days, 3 test days.
PROTOCOL = ProtocolConfig(start_date=START, train_days=2, delay_days=2, test_days=3, folds=1)


def _tx(day: int, card: int, fraud: int = 0, known_after_days: float = 2.0) -> dict[str, object]:
    when = datetime.combine(START, datetime.min.time()) + timedelta(days=day, hours=12)
    return {
        "TX_DATETIME": when,
        "CUSTOMER_ID": card,
        "TX_FRAUD": fraud,
        "TX_LABEL_DATETIME": when + timedelta(days=known_after_days),
    }


def _frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame.insert(0, "TRANSACTION_ID", np.arange(len(frame)))
    return frame


def test_windows_follow_the_configured_days() -> None:
    assert PROTOCOL.train_end == date(2018, 7, 27)
    assert PROTOCOL.test_start == date(2018, 7, 29)
    assert PROTOCOL.test_window() == "2018-07-29..2018-07-31"
    folds = ProtocolConfig(folds=3).validation_folds()
    assert [fold.start_date for fold in folds] == [
        date(2018, 7, 11),
        date(2018, 7, 4),
        date(2018, 6, 27),
    ]
    assert folds[0].test_start == ProtocolConfig().start_date  # fold 0 tests on the train window
    assert all(fold.test_end <= ProtocolConfig().train_end for fold in folds)


def test_split_puts_each_day_in_its_window_and_removes_known_cards() -> None:
    frame = _frame(
        [
            _tx(0, card=1, fraud=1),  # train fraud: card 1 known from the first test day
            _tx(1, card=2),
            _tx(2, card=3, fraud=1),  # delay day 0: card 3 known before test day 1
            _tx(3, card=4, fraud=1),  # delay day 1: card 4 known before test day 2
            _tx(4, card=1),  # test day 0: card 1 removed
            _tx(4, card=3, fraud=1),  # test day 0: card 3 not yet known, stays
            _tx(4, card=4),  # test day 0: card 4 stays
            _tx(5, card=3),  # test day 1: card 3 now known, removed
            _tx(5, card=4),  # test day 1: card 4 not yet known, stays
            _tx(6, card=4),  # test day 2: card 4 known, removed
            _tx(6, card=5),  # test day 2: card 5 stays
            _tx(7, card=6),  # after the test window
        ]
    )
    data = split(frame, PROTOCOL)
    assert data.train["TRANSACTION_ID"].tolist() == [0, 1]
    assert data.threshold_period["TRANSACTION_ID"].tolist() == [2, 3]
    assert data.test["TRANSACTION_ID"].tolist() == [5, 6, 8, 10]


def test_training_uses_only_labels_known_at_the_end_of_the_delay() -> None:
    frame = _frame(
        [
            _tx(0, card=1, fraud=1, known_after_days=3.0),  # known on day 3.5 < day 4: used
            _tx(1, card=2, fraud=1, known_after_days=3.0),  # known on day 4.5 > day 4: not yet
            _tx(5, card=9, fraud=1),
        ]
    )
    data = split(frame, PROTOCOL)
    assert data.train["TX_FRAUD"].tolist() == [1, 0]
    # The handbook removes every card with a true fraud in the training window from the test.
    assert frame["TX_FRAUD"].tolist() == [1, 1, 1]


def test_card_precision_matches_a_hand_computed_example() -> None:
    frame = _frame(
        [
            _tx(0, card=1, fraud=1),
            _tx(0, card=1),
            _tx(0, card=2),
            _tx(0, card=3, fraud=1),
            _tx(1, card=1, fraud=1),  # detected on day 0: leaves day 1's ranking
            _tx(1, card=2),
            _tx(1, card=4, fraud=1),
        ]
    )
    scores = np.array([0.9, 0.1, 0.8, 0.2, 0.99, 0.7, 0.3])
    precisions, days = card_precision_per_day(frame, scores, k=2)
    # Day 0: cards by max score 1 (0.9, fraud), 2 (0.8), 3 (0.2, fraud) -> top 2 holds 1 fraud.
    # Day 1: card 1 dropped; 2 (0.7), 4 (0.3, fraud) -> 1 fraud in the top 2.
    assert precisions == [0.5, 0.5]
    assert days == ["2018-07-25", "2018-07-26"]
    assert card_precision_top_k(frame, scores, k=2) == 0.5
    assert card_precision_top_k(frame, scores, k=1) == 0.5  # day 0: card 1; day 1: card 2


def test_alert_threshold_flags_about_k_cards_a_day() -> None:
    rng = np.random.default_rng(3)
    frame = _frame([_tx(day, card=card) for day in range(4) for card in range(200)])
    scores = rng.random(len(frame))
    alerted = frame[scores >= alert_threshold(frame, scores, k=25)]
    assert len(alerted) == 100  # one transaction per card and day: exactly k x days
    assert alerted.groupby(alerted["TX_DATETIME"].dt.date).size().between(10, 45).all()


def test_evaluation_reports_threshold_metrics_and_days() -> None:
    frame = _frame([_tx(0, 1, 1), _tx(0, 2), _tx(1, 3, 1), _tx(1, 4)])
    evaluation = evaluate(frame, np.array([0.9, 0.2, 0.4, 0.6]), threshold=0.5, k=1)
    assert evaluation.roc_auc == pytest.approx(0.75)
    assert evaluation.precision_at_threshold == pytest.approx(0.5)
    assert evaluation.recall_at_threshold == pytest.approx(0.5)
    assert [d.card_precision_top_k for d in evaluation.days] == [1.0, 0.0]
    assert [(d.precision_at_threshold, d.recall_at_threshold) for d in evaluation.days] == [
        (1.0, 1.0),
        (0.0, 0.0),
    ]
    assert evaluation.cards_alerted_per_day == 1.0
    assert evaluation.brier == pytest.approx((0.01 + 0.04 + 0.36 + 0.36) / 4)


def test_the_threshold_period_leaves_out_cards_known_by_each_day() -> None:
    frame = _frame(
        [
            _tx(0, card=1, fraud=1),  # train fraud of day 0: reported from day 0 + 2 + 1 = 3
            _tx(2, card=1),  # delay day 0 (day 2): card 1 not yet known, stays
            _tx(3, card=1),  # delay day 1 (day 3): card 1 known, left out
            _tx(3, card=2),  # stays
        ]
    )
    assert split(frame, PROTOCOL).threshold_period["TRANSACTION_ID"].tolist() == [1, 3]
