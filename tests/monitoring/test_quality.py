"""Delayed-label quality: scores joined to late labels, judged by the training metrics."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from fraudstream.monitoring.quality import UNVERSIONED, joined, quality_by_version
from fraudstream.training.metrics import evaluate
from fraudstream.transactions.event import LabelEvent, ScoreEvent

pytestmark = pytest.mark.unit

START = datetime(2018, 6, 1)


def _score(i: int, probability: float, version: int | None = 1) -> ScoreEvent:
    return ScoreEvent(
        transaction_id=i,
        customer_id=i % 7,
        terminal_id=i % 11,
        tx_datetime=START + timedelta(hours=5 * i),
        tx_amount=10.0,
        fraud_probability=probability,
        is_alert=probability >= 0.5,
        threshold=0.5,
        model_version=version,
        model_sha256="0" * 64,
        feature_definition="a7a14fae1bf5",
        processing_ms=1.0,
        scored_at=START,
    )


def _label(i: int, fraud: int) -> LabelEvent:
    at = START + timedelta(hours=5 * i)
    return LabelEvent(
        transaction_id=i,
        customer_id=i % 7,
        terminal_id=i % 11,
        tx_datetime=at,
        tx_fraud=fraud,
        tx_fraud_scenario=1 if fraud else 0,
        tx_label_datetime=at + timedelta(days=7),
    )


def test_the_last_score_of_a_transaction_counts_and_unlabelled_ones_wait() -> None:
    scores = [_score(1, 0.2), _score(2, 0.9), _score(1, 0.3), _score(3, 0.4)]
    frame = joined(scores, [_label(1, 0), _label(2, 1)])
    assert frame["TRANSACTION_ID"].tolist() == [1, 2]
    assert frame["FRAUD_PROBABILITY"].tolist() == [0.3, 0.9]
    assert frame["TX_FRAUD"].tolist() == [0, 1]


def test_each_model_version_is_judged_on_its_own_scores_with_the_training_metrics() -> None:
    rng = np.random.default_rng(0)
    frauds = rng.random(200) < 0.2
    scores = [
        _score(i, float(np.clip(0.6 * f + rng.random() * 0.5, 0, 1)), version=1 + (i >= 100))
        for i, f in enumerate(frauds)
    ]
    frame = joined(scores, [_label(i, int(f)) for i, f in enumerate(frauds)])

    quality = quality_by_version(frame, k=2)

    assert set(quality) == {1, 2}
    first = frame[frame["MODEL_VERSION"] == 1].reset_index(drop=True)
    expected = evaluate(first, first["FRAUD_PROBABILITY"].to_numpy(), 0.5, 2)
    assert quality[1] == expected
    assert quality[1].transactions == 100
    assert quality[2].transactions == 100
    assert quality[1].average_precision > frauds[:100].mean()  # better than chance


def test_a_version_with_one_kind_of_label_only_is_not_judged_yet() -> None:
    scores = [_score(1, 0.2, None), _score(2, 0.1, None)]
    frame = joined(scores, [_label(1, 0), _label(2, 0)])
    assert frame["MODEL_VERSION"].tolist() == [UNVERSIONED, UNVERSIONED]
    assert quality_by_version(frame, k=1) == {}
