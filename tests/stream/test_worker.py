"""The stream end to end, on a real broker and a real Redis: crashes, losses and bad input.

Every test runs real ``fraudstream`` processes (replay, workers) in a project whose registry holds
a small champion, and checks the outcome on the topics and in Redis against the offline
computation: every transaction scored, the same probabilities as ``fraudstream score``, and the
online feature state equal to :func:`~fraudstream.feature_store.compute_features`.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import redis
from kafka import KafkaProducer
from stream_helpers import (
    TopicReader,
    WorkerProcess,
    start_worker,
    stop_all,
    stream_env,
    unique_topics,
    wait_for_ids,
)
from stream_services import Broker, durable_kafka_broker

from conftest import FRAUDSTREAM, ChampionProject
from fraudstream.broker.config import KafkaConfig
from fraudstream.feature_store import FEATURE_NAMES, compute_features
from fraudstream.feature_store.online.frames import transaction_events
from fraudstream.feature_store.online.store import OnlineFeatureStore
from fraudstream.simulator import SimulatorConfig, simulate
from fraudstream.stream_scorer.batch import DEAD_LETTER_RAW_LIMIT
from fraudstream.training.model_loading import load_model
from fraudstream.training.scoring import score_frame
from fraudstream.training.tracking import configure_mlflow

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

#: About 20,000 transactions over 25 days (labels of the first 18 days become known in it).
REPLAY_SIMULATION = SimulatorConfig(customers=430, terminals=800, days=25, seed=12)


@pytest.fixture(scope="module")
def replay_frame() -> pd.DataFrame:
    return simulate(REPLAY_SIMULATION)


@pytest.fixture(scope="module")
def replay_file(tmp_path_factory: pytest.TempPathFactory, replay_frame: pd.DataFrame) -> Path:
    path = tmp_path_factory.mktemp("replay") / "transactions.parquet"
    replay_frame.to_parquet(path)
    return path


class Stream:
    """One test's stream: its own topics and group on the session broker, its own Redis."""

    def __init__(self, project: ChampionProject, broker: Broker, redis_url: str) -> None:
        self.project = project
        self.broker = broker
        self.redis_url = redis_url
        self.kafka = KafkaConfig(bootstrap_servers=broker.bootstrap, topics=unique_topics())
        self.env = project.env(
            **stream_env(self.kafka, redis_url, f"scorer-{uuid.uuid4().hex[:6]}")
        )
        self.workers: list[WorkerProcess] = []
        self.readers: list[TopicReader] = []
        project.run("topics", "create", env=self.env)

    def worker(self, name: str) -> WorkerProcess:
        worker = start_worker(FRAUDSTREAM, self.project.root, self.env, name)
        self.workers.append(worker)
        return worker

    def replay(self, source: Path, *args: str) -> str:
        return self.project.run(
            "replay", "--input", str(source), "--no-resume", *args, env=self.env
        )

    def reader(self, topic: str) -> TopicReader:
        reader = TopicReader(self.broker.bootstrap, topic)
        self.readers.append(reader)
        return reader

    def store(self) -> OnlineFeatureStore:
        return OnlineFeatureStore.from_config(self.project.config(**self.env).redis)

    def close(self) -> None:
        stop_all(self.workers)
        for reader in self.readers:
            reader.close()

    def logs(self) -> str:
        return "\n".join(f"--- {w.log.name}\n{w.output()[-3000:]}" for w in self.workers)


@pytest.fixture
def stream(champion_project: ChampionProject, broker: Broker, redis_url: str) -> Iterator[Stream]:
    running = Stream(champion_project, broker, redis_url)
    try:
        yield running
    finally:
        running.close()


def _offline_probabilities(project: ChampionProject, frame: pd.DataFrame) -> pd.Series:
    configure_mlflow(
        project.config().mlflow.model_copy(
            update={"tracking_uri": f"sqlite:///{project.root / 'mlflow.db'}"}
        ),
        experiment=False,
    )
    model = load_model("models:/fraudstream@champion")
    scored = score_frame(model, frame)
    return scored.set_index("TRANSACTION_ID")["fraud_probability"]


def _assert_state_matches_offline(store: OnlineFeatureStore, frame: pd.DataFrame) -> None:
    """Every event, re-read from Redis as of its own time, has its offline feature vector."""
    ordered = frame.sort_values(["TX_DATETIME", "TRANSACTION_ID"])
    online = store.enrich(transaction_events(ordered), record=False)
    assert set(online.status) <= {"replayed"}, "every event must already be recorded, once"
    offline = compute_features(ordered).loc[:, list(FEATURE_NAMES)].to_numpy()
    difference = np.abs(online.features - offline)
    worst = np.unravel_index(int(difference.argmax()), difference.shape)
    assert difference.max() <= 1e-9, f"{FEATURE_NAMES[worst[1]]} differs by {difference.max()}"


def _scores_by_id(reader: TopicReader) -> dict[int, list[dict[str, object]]]:
    by_id: dict[int, list[dict[str, object]]] = {}
    for value in reader.json_values():
        by_id.setdefault(int(value["TRANSACTION_ID"]), []).append(value)
    return by_id


def test_two_workers_survive_a_kill_and_every_transaction_is_scored_once_in_effect(
    stream: Stream, replay_file: Path, replay_frame: pd.DataFrame
) -> None:
    first, second = stream.worker("w1"), stream.worker("w2")
    scores = stream.reader(stream.kafka.topics.scores)
    stream.replay(replay_file, "--speed", "max")
    expected = set(replay_frame["TRANSACTION_ID"].tolist())
    # Let the pair share the work, then crash one of them mid-way.
    deadline = time.monotonic() + 120
    while len(scores.records) < len(expected) // 3 and time.monotonic() < deadline:
        scores.poll(0.5)
    assert scores.records, stream.logs()
    first.kill()
    restarted = stream.worker("w1-restarted")
    seen = wait_for_ids(scores, expected, timeout=240)
    assert expected <= seen, f"{len(expected - seen)} transactions never scored\n{stream.logs()}"
    assert restarted.process.poll() is None, stream.logs()
    assert second.process.poll() is None, stream.logs()

    by_id = _scores_by_id(scores)
    offline = _offline_probabilities(stream.project, replay_frame)
    for transaction_id, events in by_id.items():
        probabilities = {e["FRAUD_PROBABILITY"] for e in events}
        assert len(probabilities) == 1, f"{transaction_id} scored differently when re-delivered"
    # Partitions stay within 7 days of event time of each other (the survivor holds back while
    # the dead worker's partitions wait for the group): the offline probabilities, exactly.
    streamed = pd.Series({k: v[0]["FRAUD_PROBABILITY"] for k, v in by_id.items()})
    np.testing.assert_array_equal(streamed.sort_index().to_numpy(), offline.sort_index().to_numpy())
    # And the state: every event, re-read as of its own time, has its offline vector, once.
    _assert_state_matches_offline(stream.store(), replay_frame)


def _split_point(frame: pd.DataFrame, share: float) -> tuple[int, pd.Timestamp]:
    """How many transactions come first, and the time the rest start at (no tie at the cut)."""
    times = frame.sort_values(["TX_DATETIME", "TRANSACTION_ID"])["TX_DATETIME"].reset_index(
        drop=True
    )
    cut = int(len(times) * share)
    while times[cut] == times[cut - 1]:
        cut += 1
    return cut, times[cut - 1] + pd.Timedelta(microseconds=1)


def test_a_flushed_redis_is_rebuilt_and_later_scores_equal_an_uninterrupted_run(
    stream: Stream, replay_file: Path, replay_frame: pd.DataFrame
) -> None:
    # One replay in two stretches: the first n transactions (with every label known by then),
    # then everything from the next microsecond on: together exactly one uninterrupted replay.
    first_count, resume_at = _split_point(replay_frame, 0.5)
    first = replay_frame[replay_frame["TX_DATETIME"] < resume_at]
    assert len(first) == first_count
    scores = stream.reader(stream.kafka.topics.scores)
    stream.worker("w1")
    stream.replay(replay_file, "--speed", "max", "--limit", str(first_count))
    seen = wait_for_ids(scores, set(first["TRANSACTION_ID"]), timeout=180)
    assert set(first["TRANSACTION_ID"]) <= seen, stream.logs()

    redis.Redis.from_url(stream.redis_url).flushall()
    out = stream.project.run("features", "rebuild", env=stream.env)
    assert f"{first_count:,} transactions" in out, out
    stream.replay(replay_file, "--speed", "max", "--from", resume_at.isoformat())
    expected = set(replay_frame["TRANSACTION_ID"])
    seen = wait_for_ids(scores, expected, timeout=180)
    assert expected <= seen, stream.logs()

    later_ids = replay_frame.loc[replay_frame["TX_DATETIME"] >= resume_at, "TRANSACTION_ID"]
    offline = _offline_probabilities(stream.project, replay_frame)
    by_id = _scores_by_id(scores)
    streamed = np.array([by_id[i][-1]["FRAUD_PROBABILITY"] for i in later_ids])
    np.testing.assert_array_equal(streamed, offline.loc[later_ids].to_numpy())
    _assert_state_matches_offline(stream.store(), replay_frame)


#: The durable broker writes every record to S3 (moto here): slow, so a shorter replay.
DURABLE_EVENTS = 3_000


def _first(frame: pd.DataFrame, count: int) -> pd.DataFrame:
    """The first ``count`` transactions in replay order."""
    return frame.sort_values(["TX_DATETIME", "TRANSACTION_ID"]).head(count)


def test_after_a_broker_restart_on_durable_storage_nothing_is_lost(
    champion_project: ChampionProject,
    redis_url: str,
    replay_file: Path,
    replay_frame: pd.DataFrame,
    tmp_path: Path,
) -> None:
    with durable_kafka_broker(tmp_path) as durable:
        stream = Stream(champion_project, durable, redis_url)
        try:
            scores = stream.reader(stream.kafka.topics.scores)
            stream.worker("w1")
            replay = subprocess.Popen(
                [
                    FRAUDSTREAM,
                    "replay",
                    "--input",
                    str(replay_file),
                    "--no-resume",
                    "--rate",
                    "1000",
                    "--limit",
                    str(DURABLE_EVENTS),
                ],
                cwd=champion_project.root,
                env=stream.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                deadline = time.monotonic() + 60
                while len(scores.records) < DURABLE_EVENTS // 3 and time.monotonic() < deadline:
                    scores.poll(0.5)
                assert scores.records, stream.logs()
                # Mid-replay and mid-scoring: down for a second, back on the same storage.
                durable.restart(down_seconds=1.0)
                assert replay.wait(timeout=180) == 0, "the replay did not reconnect by itself"
            finally:
                if replay.poll() is None:
                    replay.kill()
                    replay.wait()
            expected = set(_first(replay_frame, DURABLE_EVENTS)["TRANSACTION_ID"])
            seen = wait_for_ids(scores, expected, timeout=240)
            assert expected <= seen, f"{len(expected - seen)} never scored\n{stream.logs()}"
            assert stream.workers[0].process.poll() is None, stream.logs()
            # Nothing the broker confirmed before the restart is gone from its log.
            log = stream.reader(stream.kafka.topics.transactions).until_idle()
            assert {json.loads(r.value)["TRANSACTION_ID"] for r in log} == expected
            by_id = _scores_by_id(scores)
            offline = _offline_probabilities(stream.project, replay_frame)
            streamed = pd.Series({k: v[-1]["FRAUD_PROBABILITY"] for k, v in by_id.items()})
            np.testing.assert_array_equal(
                streamed.sort_index().to_numpy(), offline.loc[sorted(expected)].to_numpy()
            )
        finally:
            stream.close()


def _malformed(good: bytes) -> dict[str, bytes]:
    event = json.loads(good)
    return {
        "bad json": b"{not json",
        "missing field": json.dumps({k: v for k, v in event.items() if k != "TX_AMOUNT"}).encode(),
        "wrong type": json.dumps(event | {"CUSTOMER_ID": "seventeen"}).encode(),
        "negative amount": json.dumps(event | {"TX_AMOUNT": -5.0}).encode(),
        "nan amount": good.replace(str(event["TX_AMOUNT"]).encode(), b"NaN"),
        "unknown field": json.dumps(event | {"CVV": "123"}).encode(),
        "huge payload": json.dumps(event | {"NOTE": "x" * 200_000}).encode(),
        "binary garbage": bytes(range(256)) * 4,
        "duplicate id": json.dumps(event | {"TX_AMOUNT": event["TX_AMOUNT"] + 1}).encode(),
    }


def test_malformed_events_go_to_the_dead_letter_topic_and_the_stream_goes_on(
    stream: Stream, replay_frame: pd.DataFrame
) -> None:
    frame = replay_frame.head(300)
    events = transaction_events(frame)
    good = [e.to_json() for e in events]
    bad = _malformed(good[0])
    producer = KafkaProducer(
        bootstrap_servers=stream.broker.bootstrap, acks="all", max_request_size=1_048_576
    )
    topic = stream.kafka.topics.transactions
    for value in good[:150]:
        producer.send(topic, value, key=b"k")
    for value in bad.values():
        producer.send(topic, value, key=b"k")
    for value in good[150:]:
        producer.send(topic, value, key=b"k")
    producer.flush()
    producer.close()
    # Labels watermark: nothing is known yet, so let the scorer through at once.
    stream.env["FRAUDSTREAM_STREAM_LABEL_WAIT_MAX_SECONDS"] = "0"
    stream.worker("w1")
    scores, dead = stream.reader(stream.kafka.topics.scores), stream.reader(stream.kafka.topics.dlq)
    seen = wait_for_ids(scores, {e.transaction_id for e in events}, timeout=120)
    assert {e.transaction_id for e in events} <= seen, stream.logs()
    deadline = time.monotonic() + 30
    while len(dead.records) < len(bad) and time.monotonic() < deadline:
        dead.poll(0.5)
    letters = dead.json_values()
    assert len(letters) == len(bad), letters
    # The raw bytes as they came (the first 64 KiB of a larger record, marked as cut).
    by_raw = {base64.b64decode(letter["RAW_BASE64"]): letter for letter in letters}
    bad = {name: value[:DEAD_LETTER_RAW_LIMIT] for name, value in bad.items()}
    for name, value in bad.items():
        assert value in by_raw, f"{name} not in the dead-letter topic"
        reason = by_raw[value]["REASON"]
        assert 0 < len(reason) < 400, (name, reason)
    raw = {value: letter["REASON"] for value, letter in by_raw.items()}
    assert "TX_AMOUNT" in raw[bad["missing field"]]
    assert "CUSTOMER_ID" in raw[bad["wrong type"]]
    assert "exceeds" in raw[bad["huge payload"]]
    assert by_raw[bad["huge payload"]]["RAW_TRUNCATED"] is True
    assert by_raw[bad["huge payload"]]["RAW_BYTES"] > DEAD_LETTER_RAW_LIMIT
    assert "duplicate TRANSACTION_ID" in raw[bad["duplicate id"]]
    assert stream.workers[0].process.poll() is None


def test_a_promotion_mid_stream_switches_the_model_at_a_batch_boundary(
    stream: Stream, replay_file: Path, replay_frame: pd.DataFrame
) -> None:
    project = stream.project
    scores = stream.reader(stream.kafka.topics.scores)
    stream.worker("w1")
    stream.replay(replay_file, "--speed", "x200000", "--limit", "6000")
    wait_for_ids(scores, set(replay_frame["TRANSACTION_ID"].head(1000)), timeout=120)
    project.run("train", "--input", str(project.training_file), "--trials", "1", env=project.env())
    project.set_champion(2)
    try:
        expected = set(replay_frame["TRANSACTION_ID"].head(6000))
        seen = wait_for_ids(scores, expected, timeout=180)
        assert expected <= seen, stream.logs()
        deadline = time.monotonic() + 60
        versions = {v["MODEL_VERSION"] for v in scores.json_values()}
        while versions != {1, 2} and time.monotonic() < deadline:
            stream.replay(replay_file, "--speed", "max", "--from", "2018-04-20", "--limit", "500")
            scores.poll(3)
            versions = {v["MODEL_VERSION"] for v in scores.json_values()}
        assert versions == {1, 2}, stream.logs()
        # The scores topic has several partitions: order the events by when they were scored
        # (one time per batch).
        ordered = sorted(scores.json_values(), key=lambda v: str(v["SCORED_AT"]))
        order = [v["MODEL_VERSION"] for v in ordered]
        switch = order.index(2)
        assert all(version == 1 for version in order[:switch])
        assert all(version == 2 for version in order[switch:])
    finally:
        project.set_champion(1)
