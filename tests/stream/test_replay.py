"""The replay producer against a real broker: what lands on the topics, in which order, once."""

from __future__ import annotations

import gc
import json
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from stream_services import Broker, kafka_broker

from fraudstream.broker.config import KafkaConfig, TopicsConfig
from fraudstream.broker.topics import TopicRecord, create_topics, read_topic
from fraudstream.cli import main
from fraudstream.cli.replay import read_source
from fraudstream.config import FraudstreamConfig
from fraudstream.producer.config import ReplayConfig
from fraudstream.producer.encode import EventColumns, label_values, transaction_values
from fraudstream.producer.replay import ReplayOptions, ReplaySource, ReplaySummary, replay
from fraudstream.producer.sequence import LABEL, TRANSACTION, WATERMARK, build_sequence
from fraudstream.simulator import SimulatorConfig, simulate
from fraudstream.transactions import contract as c
from fraudstream.transactions.event import (
    WATERMARK_HEADER,
    LabelEvent,
    LabelWatermark,
    TransactionEvent,
)

pytestmark = pytest.mark.integration


def unique_kafka(bootstrap: str) -> KafkaConfig:
    """The broker with topics no other test uses."""
    return KafkaConfig(
        bootstrap_servers=bootstrap, topics=TopicsConfig().tagged(uuid.uuid4().hex[:10])
    )


@pytest.fixture
def source(transactions_csv: Path) -> ReplaySource:
    """The small simulated file (100 cards, 30 days), read and validated like the CLI does."""
    return read_source(transactions_csv, FraudstreamConfig())


@pytest.fixture
def replay_config(tmp_path: Path) -> ReplayConfig:
    """Checkpoints in the test's own folder."""
    return ReplayConfig(checkpoint_dir=tmp_path / "checkpoints")


def us(moment: str | pd.Timestamp) -> int:
    """A time as microseconds since the epoch."""
    return int(pd.Timestamp(moment).value) // 1000


def labels_and_marks(records: list[TopicRecord]) -> tuple[list[TopicRecord], list[TopicRecord]]:
    """Label records and watermark records of the labels topic."""
    labels = [r for r in records if b"TX_LABEL_DATETIME" in r.value]
    marks = [r for r in records if b"LABELS_KNOWN_THROUGH" in r.value]
    assert len(labels) + len(marks) == len(records)
    return labels, marks


def transaction_bytes(frame: pd.DataFrame) -> list[bytes]:
    """``TransactionEvent(...).to_json()`` of every row, through pydantic."""
    return [
        TransactionEvent(
            transaction_id=int(row[c.TRANSACTION_ID]),
            tx_datetime=row[c.TX_DATETIME].to_pydatetime(),
            customer_id=int(row[c.CUSTOMER_ID]),
            terminal_id=int(row[c.TERMINAL_ID]),
            tx_amount=float(row[c.TX_AMOUNT]),
            tx_time_seconds=int(row[c.TX_TIME_SECONDS]),
            tx_time_days=int(row[c.TX_TIME_DAYS]),
        ).to_json()
        for _, row in frame.iterrows()
    ]


def label_bytes(frame: pd.DataFrame) -> list[bytes]:
    """``LabelEvent(...).to_json()`` of every row, through pydantic."""
    return [
        LabelEvent(
            transaction_id=int(row[c.TRANSACTION_ID]),
            customer_id=int(row[c.CUSTOMER_ID]),
            terminal_id=int(row[c.TERMINAL_ID]),
            tx_datetime=row[c.TX_DATETIME].to_pydatetime(),
            tx_fraud=int(row[c.TX_FRAUD]),
            tx_fraud_scenario=int(row[c.TX_FRAUD_SCENARIO]),
            tx_label_datetime=row[c.TX_LABEL_DATETIME].to_pydatetime(),
        ).to_json()
        for _, row in frame.iterrows()
    ]


#: A replay's source and summary, and the transactions and labels topics read back.
FullReplay = tuple[ReplaySource, ReplaySummary, list[TopicRecord], list[TopicRecord]]


@pytest.fixture(scope="module")
def full_replay(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> FullReplay:
    """One whole replay of the small file, and both topics read back from the beginning."""
    folder = tmp_path_factory.mktemp("full-replay")
    path = folder / "transactions.csv"
    simulate(SimulatorConfig(customers=100, terminals=200, days=30, seed=7)).to_csv(
        path, index=False
    )
    source = read_source(path, FraudstreamConfig())
    kafka = unique_kafka(broker.bootstrap)
    summary = replay(
        source, kafka, ReplayConfig(checkpoint_dir=folder / "checkpoints"), ReplayOptions()
    )
    return (
        source,
        summary,
        read_topic(kafka, kafka.topics.transactions),
        read_topic(kafka, kafka.topics.labels),
    )


def test_every_transaction_and_label_lands_once_with_its_key(full_replay: FullReplay) -> None:
    source, summary, transactions, labels_topic = full_replay
    frame = source.frame
    labels, marks = labels_and_marks(labels_topic)
    assert summary.finished
    assert summary.transactions == len(transactions) == len(frame)
    assert summary.labels == len(labels) == len(frame)
    assert summary.watermarks == len(marks) >= 2
    sent = [json.loads(r.value) for r in transactions]
    assert Counter(e["TRANSACTION_ID"] for e in sent) == Counter(frame[c.TRANSACTION_ID].tolist())
    assert all(
        r.key == str(e["CUSTOMER_ID"]).encode() for r, e in zip(transactions, sent, strict=False)
    )
    label_ids = [json.loads(r.value)["TRANSACTION_ID"] for r in labels]
    assert sorted(label_ids) == sorted(frame[c.TRANSACTION_ID].tolist())
    assert all(r.key == str(i).encode() for r, i in zip(labels, label_ids, strict=False))
    assert all(r.key is None for r in marks)


def test_topic_values_are_the_wire_models_bytes(full_replay: FullReplay) -> None:
    source, _, transactions, labels_topic = full_replay
    labels, marks = labels_and_marks(labels_topic)
    assert sorted(r.value for r in transactions) == sorted(transaction_bytes(source.frame))
    assert sorted(r.value for r in labels) == sorted(label_bytes(source.frame))
    for mark in marks:
        promised = json.loads(mark.value)["LABELS_KNOWN_THROUGH"]
        model = LabelWatermark(labels_known_through=datetime.fromisoformat(promised))
        assert mark.value == model.to_json()
        assert mark.headers[WATERMARK_HEADER] == promised.encode()


def test_a_cards_transactions_share_a_partition_in_time_order(full_replay: FullReplay) -> None:
    _, _, transactions, _ = full_replay
    partitions_of_card: dict[bytes | None, set[int]] = defaultdict(set)
    times_of_card: dict[bytes | None, list[str]] = defaultdict(list)
    for record in transactions:  # partition by partition, each in offset order
        partitions_of_card[record.key].add(record.partition)
        times_of_card[record.key].append(json.loads(record.value)["TX_DATETIME"])
    assert len({p for parts in partitions_of_card.values() for p in parts}) > 1
    assert all(len(parts) == 1 for parts in partitions_of_card.values())
    assert all(times == sorted(times) for times in times_of_card.values())


def test_labels_arrive_in_label_time_order_with_valid_watermarks(full_replay: FullReplay) -> None:
    source, _, _, labels_topic = full_replay
    labels, _ = labels_and_marks(labels_topic)
    known_at = [us(json.loads(r.value)["TX_LABEL_DATETIME"]) for r in labels]
    assert known_at == sorted(known_at)
    assert all(WATERMARK_HEADER in r.headers for r in labels_topic)
    promised = 0
    for record in labels_topic:
        if b"TX_LABEL_DATETIME" in record.value:
            known = us(json.loads(record.value)["TX_LABEL_DATETIME"])
            assert known > promised, "a label arrived after a watermark that promised it"
        header = us(record.headers[WATERMARK_HEADER].decode())
        assert header >= promised, "watermarks never go back"
        promised = header
    end = max(source.frame[c.TX_LABEL_DATETIME].max(), source.frame[c.TX_DATETIME].max())
    assert promised == us(end), "the last watermark covers the whole file"


def test_each_transaction_is_preceded_by_a_watermark_at_or_after_its_time(
    full_replay: FullReplay,
) -> None:
    _, _, transactions, labels_topic = full_replay
    # A record's timestamp is taken when it is handed to the producer, in sending order.
    marks = sorted((r.timestamp_ms, us(r.headers[WATERMARK_HEADER].decode())) for r in labels_topic)
    stamps = np.array([stamp for stamp, _ in marks])
    best = np.maximum.accumulate(np.array([mark for _, mark in marks]))
    for record in transactions:
        seen = np.searchsorted(stamps, record.timestamp_ms, side="right")
        assert seen > 0
        assert best[seen - 1] >= us(json.loads(record.value)["TX_DATETIME"])


def test_the_sequence_sends_a_watermark_before_any_transaction_it_covers(
    source: ReplaySource,
) -> None:
    sequence = build_sequence(source.frame)
    promised = -1
    for kind, when, mark in zip(
        sequence.kinds.tolist(),
        sequence.times_us.tolist(),
        sequence.watermarks_us.tolist(),
        strict=False,
    ):
        if kind == TRANSACTION:
            assert when <= promised
        else:
            promised = max(promised, mark)
    assert sequence.kinds[0] == WATERMARK or sequence.kinds[0] == LABEL
    assert sequence.kinds[-1] == WATERMARK


def test_labels_go_before_transactions_at_the_same_instant() -> None:
    at = pd.Timestamp("2018-04-02 10:00:00")
    frame = pd.DataFrame(
        {
            c.TRANSACTION_ID: [0, 1, 2],
            c.TX_DATETIME: [pd.Timestamp("2018-04-01 10:00:00"), at, at],
            c.CUSTOMER_ID: [5, 6, 7],
            c.TERMINAL_ID: [1, 1, 1],
            c.TX_AMOUNT: [1.0, 2.0, 3.0],
            c.TX_TIME_SECONDS: [36_000, 122_400, 122_400],
            c.TX_TIME_DAYS: [0, 1, 1],
            c.TX_FRAUD: [0, 0, 0],
            c.TX_FRAUD_SCENARIO: [0, 0, 0],
            c.TX_LABEL_DATETIME: [at, at + pd.Timedelta(days=1), at + pd.Timedelta(days=1)],
        }
    )
    sequence = build_sequence(frame)
    order = list(zip(sequence.kinds.tolist(), sequence.rows.tolist(), strict=False))
    assert order == [
        (WATERMARK, -1),
        (TRANSACTION, 0),
        (LABEL, 0),
        (TRANSACTION, 1),
        (TRANSACTION, 2),
        (LABEL, 1),
        (LABEL, 2),
        (WATERMARK, -1),
    ]
    # the first watermark holds until just before the first label
    assert sequence.watermarks_us[0] == us(at) - 1
    assert sequence.watermarks_us[2] == us(at + pd.Timedelta(days=1)) - 1


def test_bulk_encoding_equals_to_json_for_every_row_of_a_file(source: ReplaySource) -> None:
    frame = source.frame
    columns = EventColumns.of(frame)
    rows = np.arange(len(frame), dtype=np.int64)
    assert transaction_values(columns, rows) == transaction_bytes(frame)
    assert label_values(columns, rows) == label_bytes(frame)


def test_bulk_encoding_matches_pydantic_on_awkward_numbers_and_times() -> None:
    amounts = [0.0, 1e-05, 5e-324, 0.0001, 12.5, 1e16, 123456789.123, 0.1 + 0.2]
    times = pd.to_datetime(
        ["2018-04-01 00:00:00.000001", "2018-04-01 23:59:59.5", "1999-12-31 00:00:00"] * 3,
        format="ISO8601",
    )[: len(amounts)]
    frame = pd.DataFrame(
        {
            c.TRANSACTION_ID: range(len(amounts)),
            c.TX_DATETIME: times,
            c.CUSTOMER_ID: range(len(amounts)),
            c.TERMINAL_ID: range(len(amounts)),
            c.TX_AMOUNT: amounts,
            c.TX_TIME_SECONDS: range(len(amounts)),
            c.TX_TIME_DAYS: range(len(amounts)),
        }
    )
    rows = np.arange(len(frame), dtype=np.int64)
    assert transaction_values(EventColumns.of(frame), rows) == transaction_bytes(frame)


def test_limit_stops_after_that_many_transactions(
    broker: Broker, source: ReplaySource, replay_config: ReplayConfig
) -> None:
    kafka = unique_kafka(broker.bootstrap)
    summary = replay(source, kafka, replay_config, ReplayOptions(limit=500))
    transactions = read_topic(kafka, kafka.topics.transactions)
    labels, marks = labels_and_marks(read_topic(kafka, kafka.topics.labels))
    ordered = source.frame.sort_values([c.TX_DATETIME, c.TRANSACTION_ID])
    first = ordered.head(500)
    assert summary.transactions == len(transactions) == 500
    assert {json.loads(r.value)["TRANSACTION_ID"] for r in transactions} == set(
        first[c.TRANSACTION_ID]
    )
    last_time = first[c.TX_DATETIME].max()
    known = source.frame[source.frame[c.TX_LABEL_DATETIME] <= last_time]
    assert {json.loads(r.value)["TRANSACTION_ID"] for r in labels} == set(known[c.TRANSACTION_ID])
    final = us(json.loads(marks[-1].value)["LABELS_KNOWN_THROUGH"])
    assert final >= us(last_time)
    later = source.frame[c.TX_LABEL_DATETIME][source.frame[c.TX_LABEL_DATETIME] > last_time]
    assert final < us(later.min()), "the final watermark does not promise labels never sent"


def test_from_keeps_transactions_and_labels_at_or_after_the_date(
    broker: Broker, source: ReplaySource, replay_config: ReplayConfig
) -> None:
    kafka = unique_kafka(broker.bootstrap)
    start = datetime(2018, 4, 20)
    summary = replay(source, kafka, replay_config, ReplayOptions(start=start))
    frame = source.frame
    transactions = read_topic(kafka, kafka.topics.transactions)
    labels, _ = labels_and_marks(read_topic(kafka, kafka.topics.labels))
    expected_tx = frame[frame[c.TX_DATETIME] >= start][c.TRANSACTION_ID]
    expected_labels = frame[frame[c.TX_LABEL_DATETIME] >= start][c.TRANSACTION_ID]
    assert summary.finished
    assert sorted(json.loads(r.value)["TRANSACTION_ID"] for r in transactions) == sorted(
        expected_tx
    )
    assert sorted(json.loads(r.value)["TRANSACTION_ID"] for r in labels) == sorted(expected_labels)


def test_an_interrupted_replay_resumes_without_duplicates_or_gaps(
    broker: Broker, source: ReplaySource, replay_config: ReplayConfig
) -> None:
    kafka = unique_kafka(broker.bootstrap)
    stop = threading.Event()

    def interrupt_after_two_stretches(done: int, total: int) -> None:
        if done >= 2_000:
            stop.set()  # what Ctrl-C does

    first = replay(
        source,
        kafka,
        replay_config,
        ReplayOptions(),
        progress=interrupt_after_two_stretches,
        stop=stop,
        chunk_records=1_000,
    )
    assert first.interrupted
    assert first.next_index == 2_000
    second = replay(source, kafka, replay_config, ReplayOptions(), chunk_records=1_000)
    assert second.resumed_from == 2_000
    assert second.finished
    assert first.transactions + second.transactions == len(source.frame)
    transactions = read_topic(kafka, kafka.topics.transactions)
    labels, _ = labels_and_marks(read_topic(kafka, kafka.topics.labels))
    ids = Counter(json.loads(r.value)["TRANSACTION_ID"] for r in transactions)
    assert ids == Counter(source.frame[c.TRANSACTION_ID].tolist())
    label_ids = Counter(json.loads(r.value)["TRANSACTION_ID"] for r in labels)
    assert label_ids == Counter(source.frame[c.TRANSACTION_ID].tolist())
    third = replay(source, kafka, replay_config, ReplayOptions())
    assert third.already_finished
    assert third.events == 0
    again = replay(source, kafka, replay_config, ReplayOptions(resume=False, limit=10))
    assert again.transactions == 10


def test_the_rate_cap_holds_transactions_back(
    broker: Broker, source: ReplaySource, replay_config: ReplayConfig
) -> None:
    kafka = unique_kafka(broker.bootstrap)
    create_topics(kafka)
    began = time.monotonic()
    summary = replay(source, kafka, replay_config, ReplayOptions(rate=400.0, limit=400))
    elapsed = time.monotonic() - began
    assert summary.transactions == 400
    # a tenth of a second of burst, then 400/s: at least 0.9 s for 400 transactions
    assert elapsed >= 0.85


def test_the_replay_survives_a_broker_restart(
    tmp_path: Path,
    source: ReplaySource,
    replay_config: ReplayConfig,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A broker of its own: the restart (memory storage) empties it.
    with kafka_broker(tmp_path / "logs") as own:
        kafka = unique_kafka(own.bootstrap)
        restarted_at: list[int] = []

        def restart_once(done: int, total: int) -> None:
            if not restarted_at and done >= 3_000:
                own.restart()
                create_topics(kafka)  # memory storage forgot them
                restarted_at.append(done)

        summary = replay(
            source,
            kafka,
            replay_config,
            ReplayOptions(),
            progress=restart_once,
            chunk_records=1_000,
            checkpoint_seconds=60.0,
        )
        assert summary.finished
        transactions = read_topic(kafka, kafka.topics.transactions)
    # Everything sent after the restart is there exactly once (what was confirmed before it died
    # with the broker's memory).
    sequence = build_sequence(source.frame)
    after = sequence.rows[restarted_at[0] :][sequence.kinds[restarted_at[0] :] == TRANSACTION]
    expected = Counter(source.frame[c.TRANSACTION_ID].to_numpy()[after].tolist())
    found = Counter(json.loads(r.value)["TRANSACTION_ID"] for r in transactions)
    assert {i: found[i] for i in expected} == expected
    # Failed reconnections closed their sockets (kafka-python 3.0 leaks them unless patched).
    caplog.clear()
    gc.collect()


def test_replay_cli_sends_then_says_it_is_finished(
    broker: Broker,
    project: Path,
    transactions_csv: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kafka = unique_kafka(broker.bootstrap)
    monkeypatch.setenv("FRAUDSTREAM_KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap)
    monkeypatch.setenv("FRAUDSTREAM_KAFKA_TOPICS", kafka.topics.model_dump_json())
    args = ["replay", "--input", str(transactions_csv), "--limit", "300"]
    with pytest.raises(SystemExit) as done:
        main(args)
    out, err = capsys.readouterr()
    assert done.value.code == 0, err
    assert "sent 300 transactions" in out
    assert "replay finished" in out
    assert list((project / ".run" / "replay").glob("replay-*.json"))
    with pytest.raises(SystemExit) as again:
        main(args)
    out, _ = capsys.readouterr()
    assert again.value.code == 0
    assert "already finished" in out
    assert len(read_topic(kafka, kafka.topics.transactions)) == 300


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--speed", "fast"], "--speed 'fast'"),
        (["--from", "yesterday"], "--from 'yesterday'"),
        (["--from", "2030-01-01"], "nothing to replay"),
    ],
)
def test_replay_cli_explains_bad_options(
    project: Path,
    transactions_csv: Path,
    capsys: pytest.CaptureFixture[str],
    option: list[str],
    message: str,
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["replay", "--input", str(transactions_csv), *option])
    _, err = capsys.readouterr()
    assert done.value.code == 3
    assert message in err
