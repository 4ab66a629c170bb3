"""One micro-batch, in process, on a real Redis and the session's champion (no broker)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import redis

from conftest import ChampionProject
from fraudstream.feature_store.online.config import RedisConfig
from fraudstream.feature_store.online.frames import transaction_events
from fraudstream.feature_store.online.store import OnlineFeatureStore
from fraudstream.simulator import SimulatorConfig, simulate
from fraudstream.stream_scorer.batch import BatchScorer, RawRecord, accept, validate_record
from fraudstream.stream_scorer.champion import ChampionHolder
from fraudstream.stream_scorer.labels import read_label_records
from fraudstream.training.explain import contributions
from fraudstream.training.model_loading import LoadedModel
from fraudstream.transactions.event import (
    WATERMARK_HEADER,
    LabelEvent,
    LabelWatermark,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return simulate(SimulatorConfig(customers=100, terminals=200, days=12, seed=5))


@pytest.fixture(scope="module")
def holder(champion_project: ChampionProject) -> ChampionHolder:
    config = champion_project.config()
    uri = f"sqlite:///{champion_project.root / 'mlflow.db'}"
    config = config.model_copy(
        update={"mlflow": config.mlflow.model_copy(update={"tracking_uri": uri})}
    )
    holder = ChampionHolder(config)
    holder.load_initial()
    return holder


@pytest.fixture
def store(redis_url: str) -> Iterator[OnlineFeatureStore]:
    store = OnlineFeatureStore(redis.Redis.from_url(redis_url), RedisConfig(url=redis_url))
    yield store
    store.close()


def _records(frame: pd.DataFrame) -> list[RawRecord]:
    events = transaction_events(frame)
    now = time.time()
    return [RawRecord(e.to_json(), "transactions", 0, i, now) for i, e in enumerate(events)]


def test_bad_records_get_a_short_reason_naming_the_problem() -> None:
    good = json.loads(
        _records(simulate(SimulatorConfig(customers=20, terminals=20, days=3)).head(1))[0].value
    )
    cases = {
        b"": "empty",
        b"{": "invalid transaction event",
        json.dumps(good | {"TX_AMOUNT": -1}).encode(): "TX_AMOUNT",
        json.dumps(good | {"TX_AMOUNT": "12"}).encode(): "TX_AMOUNT",
        json.dumps(good | {"EXTRA": 1}).encode(): "EXTRA",
        json.dumps({k: v for k, v in good.items() if k != "TERMINAL_ID"}).encode(): "TERMINAL_ID",
        json.dumps(good)
        .replace('"TX_AMOUNT": ', '"TX_AMOUNT": Infinity, "X": ')
        .encode(): "invalid",
        b"x" * 70_000: "exceeds",
    }
    for raw, expected in cases.items():
        outcome = validate_record(RawRecord(raw, "t", 0, 0), max_bytes=65_536)
        assert isinstance(outcome, str), raw[:60]
        assert expected in outcome
        assert len(outcome) < 300


def test_a_batch_is_scored_with_exact_reasons_for_its_alerts(
    store: OnlineFeatureStore, holder: ChampionHolder, frame: pd.DataFrame
) -> None:
    # The small champion's threshold is for its own budget: lower it to this data's top 1 %.
    accepted, dead = accept(_records(frame), 65_536)
    assert not dead
    first_pass = BatchScorer(store=store, model=holder.model, label_wait_max_seconds=0)
    probabilities = [s.fraud_probability for s in first_pass.score(accepted).scores]
    store.clear()
    champion = holder.model()
    lowered = dataclasses.replace(
        champion,
        metadata=champion.metadata.model_copy(
            update={"threshold": float(np.quantile(probabilities, 0.99))}
        ),
    )
    scorer = BatchScorer(
        store=store, model=lambda: lowered, label_wait_max_seconds=0, top_reasons=3
    )
    result = scorer.score(accepted)
    assert len(result.scores) == len(frame)
    assert result.statuses["new"] == len(frame)
    model = lowered
    assert all(s.model_version == model.version for s in result.scores)
    assert {s.transaction_id for s in result.alerts} == {
        s.transaction_id for s in result.scores if s.is_alert
    }
    assert result.alerts, "the small champion alerts on some of these events"
    for alert in result.alerts:
        assert len(alert.reasons) == 3
        contributions_ = [r.contribution for r in alert.reasons]
        assert contributions_ == sorted(contributions_, reverse=True)
    # Exactness: the model's own decomposition of the first alert adds up to its log-odds.
    first = result.alerts[0]
    features = store.enrich(
        [a.event for a in accepted if a.event.transaction_id == first.transaction_id], record=False
    )
    parts = contributions(
        model.estimator, features.to_frame().loc[:, list(model.metadata.feature_names)]
    )
    logit = math.log(first.fraud_probability / (1 - first.fraud_probability))
    assert parts.sum() == pytest.approx(logit, abs=1e-9)
    assert parts[0, :-1].max() == pytest.approx(first.reasons[0].contribution)


def test_a_redelivered_batch_gives_the_same_scores_and_changes_nothing(
    store: OnlineFeatureStore, holder: ChampionHolder, frame: pd.DataFrame
) -> None:
    scorer = BatchScorer(store=store, model=holder.model, label_wait_max_seconds=0)
    accepted, _ = accept(_records(frame.head(600)), 65_536)
    first = scorer.score(accepted)
    again = scorer.score(accepted)
    assert again.statuses["replayed"] == 600
    assert [s.fraud_probability for s in first.scores] == [
        s.fraud_probability for s in again.scores
    ]


def test_a_changed_duplicate_is_a_dead_letter(
    store: OnlineFeatureStore, holder: ChampionHolder, frame: pd.DataFrame
) -> None:
    scorer = BatchScorer(store=store, model=holder.model, label_wait_max_seconds=0)
    records = _records(frame.head(10))
    scorer.score(accept(records, 65_536)[0])
    changed = json.loads(records[3].value) | {"TX_AMOUNT": 9999.0}
    result = scorer.score(accept([RawRecord(json.dumps(changed).encode(), "t", 0, 99)], 65_536)[0])
    assert not result.scores
    assert "duplicate TRANSACTION_ID" in result.dead_letters[0].reason


def test_the_model_changes_only_between_batches(
    store: OnlineFeatureStore, holder: ChampionHolder, frame: pd.DataFrame
) -> None:
    current = holder.model()
    other = LoadedModel(
        estimator=current.estimator,
        metadata=current.metadata,
        model_uri="models:/fraudstream/99",
        model_sha256="0" * 64,
        version=99,
    )
    models = iter([current, other])
    active = {"model": current}

    def model() -> LoadedModel:
        active["model"] = next(models)
        return active["model"]

    scorer = BatchScorer(store=store, model=model, label_wait_max_seconds=0)
    records = _records(frame.head(400))
    first = scorer.score(accept(records[:200], 65_536)[0])
    second = scorer.score(accept(records[200:], 65_536)[0])
    assert {s.model_version for s in first.scores} == {current.version}
    assert {s.model_version for s in second.scores} == {99}


def test_scoring_waits_for_the_labels_watermark_and_no_longer_than_the_bound(
    store: OnlineFeatureStore, holder: ChampionHolder, frame: pd.DataFrame
) -> None:
    scorer = BatchScorer(store=store, model=holder.model, label_wait_max_seconds=0.3)
    accepted, _ = accept(_records(frame.head(50)), 65_536)
    latest = max(a.event.tx_datetime for a in accepted)
    waited = asyncio.run(scorer.wait_for_labels(accepted))
    assert 0.3 <= waited < 1.0
    store.advance_watermark(latest.replace(tzinfo=UTC))
    assert asyncio.run(scorer.wait_for_labels(accepted)) == 0.0


def test_label_records_are_read_with_their_watermarks() -> None:
    row = simulate(SimulatorConfig(customers=20, terminals=20, days=10)).iloc[0]
    label = LabelEvent(
        transaction_id=int(row.TRANSACTION_ID),
        customer_id=int(row.CUSTOMER_ID),
        terminal_id=int(row.TERMINAL_ID),
        tx_datetime=row.TX_DATETIME,
        tx_fraud=int(row.TX_FRAUD),
        tx_fraud_scenario=int(row.TX_FRAUD_SCENARIO),
        tx_label_datetime=row.TX_LABEL_DATETIME,
    )
    later = row.TX_LABEL_DATETIME + timedelta(hours=1)
    batch = read_label_records(
        [
            (label.to_json(), [(WATERMARK_HEADER, later.isoformat().encode())]),
            (LabelWatermark(labels_known_through=datetime(2018, 1, 1)).to_json(), None),
            (b"{oops", None),
            (b"", None),
        ]
    )
    assert batch.labels == [label]
    assert batch.watermark == later.to_pydatetime().replace(tzinfo=UTC)
    assert len(batch.rejected) == 2
    assert np.isfinite(batch.watermark.timestamp())
