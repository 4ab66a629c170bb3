"""Rebuilding the online state from a file or from the broker's topics, then streaming on."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import redis
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from stream_services import Broker
from test_online_store import Log, dump, make_log, stream

from fraudstream.broker.config import KafkaConfig, TopicsConfig
from fraudstream.broker.process import free_port
from fraudstream.cli import main
from fraudstream.errors import ServiceError
from fraudstream.feature_store.online import OnlineFeatureStore, RedisConfig
from fraudstream.feature_store.online.rebuild import rebuild_from_broker, rebuild_from_frame
from fraudstream.transactions import contract as c
from fraudstream.transactions.event import WATERMARK_HEADER, LabelWatermark

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def log(transactions: pd.DataFrame) -> Log:
    """The small simulation (100 cards, 200 terminals, 30 days), in event order."""
    return make_log(transactions)


@pytest.fixture
def stores(redis_url: str) -> Iterator[tuple[OnlineFeatureStore, OnlineFeatureStore]]:
    """Two stores on the same Redis that share no key."""
    first = OnlineFeatureStore.from_config(RedisConfig(url=redis_url, prefix="first"))
    second = OnlineFeatureStore.from_config(RedisConfig(url=redis_url, prefix="second"))
    yield first, second
    first.close()
    second.close()


def state_of(client: redis.Redis, store: OnlineFeatureStore) -> dict[bytes, object]:
    """The store's keys (without their prefix) and contents."""
    base = store.layout.base.encode()
    return {k.removeprefix(base): v for k, v in dump(client).items() if k.startswith(base)}


def test_a_rebuild_from_a_file_then_streaming_on_equals_an_uninterrupted_run(
    stores: tuple[OnlineFeatureStore, OnlineFeatureStore], log: Log
) -> None:
    uninterrupted, rebuilt = stores
    split = len(log.events) * 2 // 3
    whole = stream(uninterrupted, log.events, log.labels, batch=20)

    summary = rebuild_from_frame(rebuilt, log.frame.iloc[:split])
    tail = stream(rebuilt, log.events[split:], log.labels, batch=20)

    end = log.frame[c.TX_DATETIME].iloc[split - 1]
    known = log.frame.iloc[:split][c.TX_LABEL_DATETIME] <= end
    assert summary.transactions == split
    assert summary.labels == int(known.sum())
    assert summary.watermark == log.frame.iloc[:split][c.TX_LABEL_DATETIME][known].max()
    assert rebuilt.watermark() == summary.watermark
    assert set(tail.status) == {"new"}
    np.testing.assert_array_equal(tail.features, whole.features[split:])


def create_topics(kafka: KafkaConfig) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    try:
        admin.create_topics(
            [NewTopic(kafka.topics.transactions, 4, 1), NewTopic(kafka.topics.labels, 1, 1)]
        )
    finally:
        admin.close()


def produce(kafka: KafkaConfig, log: Log) -> int:
    """The log on the topics as the replay producer sends it; returns how many bad records."""
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap_servers, linger_ms=5)
    topics = kafka.topics
    end = log.events[-1].tx_datetime
    for event in log.events:
        producer.send(topics.transactions, event.to_json(), key=str(event.customer_id).encode())
    known = [label for label in log.labels if label.tx_label_datetime <= end]
    for label, after in zip(known, [*known[1:], None], strict=True):
        through = (after.tx_label_datetime if after else end).isoformat().encode()
        producer.send(topics.labels, label.to_json(), headers=[(WATERMARK_HEADER, through)])
    producer.send(topics.labels, LabelWatermark(labels_known_through=end).to_json())
    producer.send(topics.transactions, b"not json", key=b"7")
    producer.send(topics.labels, b'{"TRANSACTION_ID": 1}')
    producer.flush()
    producer.close()
    return 2


def test_a_rebuild_from_the_broker_equals_a_rebuild_from_the_file(
    broker: Broker,
    redis_url: str,
    stores: tuple[OnlineFeatureStore, OnlineFeatureStore],
    log: Log,
) -> None:
    from_file, from_broker = stores
    run = uuid.uuid4().hex[:8]
    kafka = KafkaConfig(
        bootstrap_servers=broker.bootstrap,
        topics=TopicsConfig(transactions=f"tx-{run}", labels=f"labels-{run}"),
    )
    create_topics(kafka)
    bad = produce(kafka, log)

    expected = rebuild_from_frame(from_file, log.frame)
    summary = rebuild_from_broker(from_broker, kafka, idle_seconds=2.0)

    assert summary.transactions == expected.transactions == len(log.events)
    assert summary.labels == expected.labels
    assert summary.skipped == bad
    # The file's watermark is its last label; the broker's, the producer's last promise.
    assert expected.watermark == max(
        lb.tx_label_datetime
        for lb in log.labels
        if lb.tx_label_datetime <= log.events[-1].tx_datetime
    )
    assert summary.watermark == log.events[-1].tx_datetime
    client = redis.Redis.from_url(redis_url)
    state = state_of(client, from_broker)
    assert state.pop(b"labels:watermark") != state_of(client, from_file).pop(b"labels:watermark")
    file_state = state_of(client, from_file)
    del file_state[b"labels:watermark"]
    assert file_state == state
    assert len(state) > 300
    client.close()


def test_a_broker_without_the_topics_is_a_service_error(broker: Broker, redis_url: str) -> None:
    kafka = KafkaConfig(
        bootstrap_servers=broker.bootstrap,
        topics=TopicsConfig(transactions=f"missing-{uuid.uuid4().hex[:8]}"),
    )
    store = OnlineFeatureStore.from_config(RedisConfig(url=redis_url))

    with pytest.raises(ServiceError, match="no topic"):
        rebuild_from_broker(store, kafka, idle_seconds=0.5)


def test_an_unreachable_broker_is_a_service_error(redis_url: str) -> None:
    kafka = KafkaConfig(bootstrap_servers=f"127.0.0.1:{free_port()}")
    store = OnlineFeatureStore.from_config(RedisConfig(url=redis_url))

    with pytest.raises(ServiceError, match="not reachable"):
        rebuild_from_broker(store, kafka, idle_seconds=0.5)


@pytest.mark.usefixtures("project")
def test_the_cli_rebuilds_from_a_file(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    transactions_csv: Path,
    log: Log,
) -> None:
    monkeypatch.setenv("FRAUDSTREAM_REDIS_URL", redis_url)

    with pytest.raises(SystemExit) as caught:
        main(["features", "rebuild", "--input", str(transactions_csv), "--clear"])

    out, err = capsys.readouterr()
    assert caught.value.code in (0, None), err
    assert f"{len(log.events):,} transactions" in out
    store = OnlineFeatureStore.from_config(RedisConfig(url=redis_url))
    assert store.stats().entity_keys > 300
    assert store.watermark() is not None
    store.close()
    assert "FRAUDSTREAM_REDIS_URL" in os.environ
