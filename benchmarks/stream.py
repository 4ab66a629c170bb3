"""The stream benchmark: our Faust scorer vs a no-op Faust agent vs the naive design, same topic.

Usage: ``python benchmarks/stream.py [--events 120000] [--latency-events 30000] [--rate 1000]``
(run ``make demo`` first: it scores with the registry's champion in this folder).

One run, on this machine, with its own broker (Tansu, memory storage) and Redis on free ports:

1. **Pre-fill** a 4-partition ``transactions`` topic (and ``labels``) with the first ``--events``
   transactions of the reference simulation, with ``fraudstream replay --speed max`` (its
   events/s are reported too).
2. **No-op agent**: a Faust agent with the same consumer settings that parses each event's JSON
   and sends one output per input, drains the topic. Rate = outputs / (last - first output
   record timestamp).
3. **Ours**: one ``fraudstream worker`` drains the same topic (validate, wait for labels, Redis
   enrich/update, score, publish scores and alerts). Same rate measure on ``scores``.
4. **Naive**: a kafka-python loop with one Redis round trip and one ``predict_proba`` per event.
5. **Latency**: fresh topics; a worker running; ``fraudstream replay --rate`` at 1,000 events/s;
   produce → scored (``PROCESSING_MS``) and produce → score published (record timestamps).
6. **Parity**: every event's online vector re-read from Redis as of its own time vs
   ``compute_features``; the stream's probabilities vs ``score_frame`` (``fraudstream score``).
7. **Profile**: where a batch's time goes (validate, Redis, model, events), in process.

Results go to ``benchmarks/results/stream.json`` and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from fraudstream.broker.config import KafkaConfig, TopicsConfig
from fraudstream.broker.process import start_redis, start_tansu
from fraudstream.broker.topics import create_topics
from fraudstream.config import load_config
from fraudstream.feature_store import FEATURE_NAMES, compute_features
from fraudstream.feature_store.online.config import RedisConfig
from fraudstream.feature_store.online.frames import transaction_events
from fraudstream.feature_store.online.store import OnlineFeatureStore
from fraudstream.simulator import SimulatorConfig, simulate
from fraudstream.stream_scorer.batch import BatchScorer, RawRecord, accept
from fraudstream.stream_scorer.champion import ChampionHolder
from fraudstream.training.scoring import score_frame
from fraudstream.transactions.event import TransactionEvent

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FRAUDSTREAM = str(Path(sys.executable).with_name("fraudstream"))


def _topics(tag: str) -> TopicsConfig:
    return TopicsConfig().tagged(tag)


def _env(kafka: KafkaConfig, redis_url: str, app_id: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FRAUDSTREAM_")}
    return base | {
        "FRAUDSTREAM_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "FRAUDSTREAM_KAFKA_TOPICS": kafka.topics.model_dump_json(),
        "FRAUDSTREAM_REDIS_URL": redis_url,
        "FRAUDSTREAM_STREAM_APP_ID": app_id,
        "FRAUDSTREAM_LOG_FORMAT": "json",
    }


def _read_all(bootstrap: str, topic: str, expected: int, timeout: float) -> list[Any]:
    """Read ``topic`` from the beginning until ``expected`` records or ``timeout`` seconds."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=50)
    partitions = consumer.partitions_for_topic(topic) or set()
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    records: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(records) < expected and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=200, max_records=10_000).values():
            records.extend(batch)
    consumer.close()
    return records


def _rate(records: list[Any]) -> float:
    stamps = sorted(r.timestamp for r in records)
    span = (stamps[-1] - stamps[0]) / 1000.0
    return (len(stamps) - 1) / span if span > 0 else float("nan")


def _replay(source: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        [FRAUDSTREAM, "replay", "--input", str(source), "--no-resume", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return {"seconds": time.perf_counter() - started, "output": done.stdout[-600:]}


def _worker(env: dict[str, str], name: str, run_dir: Path) -> subprocess.Popen[bytes]:
    log = (run_dir / f"{name}.log").open("wb")
    return subprocess.Popen(
        [FRAUDSTREAM, "worker", "--datadir", str(run_dir / name)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


NOOP_AGENT = """
import json, sys
from fraudstream.stream_scorer.app import ScorerApp
bootstrap, source, output, group, batch = sys.argv[1:6]
app = ScorerApp(group, broker=f"kafka://{bootstrap}", datadir=f".run/bench-{group}",
    broker_session_timeout=6.0, broker_heartbeat_interval=1.0, consumer_auto_offset_reset="earliest",
    topic_allow_declare=False, web_enabled=False, key_serializer="raw", value_serializer="raw",
    producer_acks=-1)
app.fetch_max_wait_ms = 50
src = app.topic(source, key_type=bytes, value_type=bytes)
out = app.topic(output, key_type=bytes, value_type=bytes)

@app.agent(src)
async def noop(stream):
    async for value in stream:
        event = json.loads(value)
        await out.send(key=str(event["TRANSACTION_ID"]).encode(), value=value)

if __name__ == "__main__":
    import faust
    faust.Worker(app, loglevel="warning", override_logging=False, quiet=True).execute_from_commandline()
"""


def run_noop(bootstrap: str, kafka: KafkaConfig, events: int, run_dir: Path) -> dict[str, Any]:
    """The Faust floor: parse JSON and send one output per input."""
    output = f"noop-out-{uuid.uuid4().hex[:6]}"
    create_topics(
        kafka.model_copy(update={"topics": kafka.topics.model_copy(update={"scores": output})})
    )
    script = run_dir / "noop_agent.py"
    script.write_text(NOOP_AGENT)
    log = (run_dir / "noop.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            str(script),
            bootstrap,
            kafka.topics.transactions,
            output,
            f"noop-{uuid.uuid4().hex[:6]}",
            "0",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        records = _read_all(bootstrap, output, events, timeout=600)
    finally:
        _stop(process)
    return {"outputs": len(records), "events_per_second": _rate(records)}


def run_ours(
    bootstrap: str, env: dict[str, str], kafka: KafkaConfig, events: int, run_dir: Path
) -> tuple[dict[str, Any], list[Any]]:
    """One ``fraudstream worker`` drains the pre-filled topic."""
    process = _worker(env, "worker-drain", run_dir)
    try:
        records = _read_all(bootstrap, kafka.topics.scores, events, timeout=900)
    finally:
        _stop(process)
    values = [json.loads(r.value) for r in records]
    waited = [v["LABEL_WAIT_MS"] for v in values if v["LABEL_WAIT_MS"] > 0]
    return (
        {
            "scores": len(records),
            "distinct_transactions": len({v["TRANSACTION_ID"] for v in values}),
            "events_per_second": _rate(records),
            "events_waited_for_labels": len(waited),
            "label_wait_ms_max": max(waited, default=0.0),
            "label_wait_ms_mean": float(np.mean(waited)) if waited else 0.0,
        },
        values,
    )


def run_naive(
    bootstrap: str, kafka: KafkaConfig, redis_url: str, holder: ChampionHolder, seconds: float
) -> dict[str, Any]:
    """A kafka-python loop: one Redis round trip and one ``predict_proba`` per event."""
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    store = OnlineFeatureStore(client, RedisConfig(url=redis_url, prefix="naive"))
    model = holder.model()
    names = list(model.metadata.feature_names)
    consumer = KafkaConsumer(
        kafka.topics.transactions,
        bootstrap_servers=bootstrap,
        group_id=f"naive-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
    )
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    output = kafka.topics.alerts  # any topic: nothing reads it
    done = 0
    started = None
    deadline = time.monotonic() + seconds + 30
    while time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=200).values():
            for record in batch:
                started = started or time.perf_counter()
                event = TransactionEvent.model_validate_json(record.value)
                enriched = store.enrich([event])
                # scikit-learn's predict_proba on a one-row frame: the naive design's per-event
                # call (pinned, so that a faster scoring path of ours cannot speed up the baseline)
                frame = enriched.to_frame().loc[:, names]
                probability = float(model.estimator.predict_proba(frame)[0, 1])
                producer.send(
                    output, json.dumps({"id": event.transaction_id, "p": probability}).encode()
                )
                done += 1
        if started and time.perf_counter() - started >= seconds:
            break
    producer.flush()
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    producer.close()
    return {
        "events": done,
        "seconds": elapsed,
        "events_per_second": done / elapsed if elapsed else 0.0,
    }


def run_latency(
    bootstrap: str, redis_url: str, source: Path, rate: int, events: int, run_dir: Path
) -> dict[str, Any]:
    """Produce → score latency with the replay producer running at ``rate`` events/s."""
    kafka = KafkaConfig(bootstrap_servers=bootstrap, topics=_topics(uuid.uuid4().hex[:6]))
    create_topics(kafka)
    redis.Redis.from_url(redis_url).flushall()
    env = _env(kafka, redis_url, f"latency-{uuid.uuid4().hex[:6]}")
    process = _worker(env, "worker-latency", run_dir)
    try:
        time.sleep(12)  # the worker loads the model and joins its group before the replay
        replay = _replay(source, env, "--speed", "max", "--rate", str(rate), "--limit", str(events))
        records = _read_all(bootstrap, kafka.topics.scores, events, timeout=300)
    finally:
        _stop(process)
    values = [json.loads(r.value) for r in records]
    scored = np.array([v["PROCESSING_MS"] for v in values])
    produced_ms = np.array(
        [
            datetime.fromisoformat(v["SCORED_AT"]).timestamp() * 1000 - v["PROCESSING_MS"]
            for v in values
        ]
    )
    published = np.array([r.timestamp for r in records]) - produced_ms
    return {
        "rate_requested": rate,
        "scores": len(values),
        "replay": replay,
        "produce_to_scored_ms": _percentiles(scored),
        "produce_to_published_ms": _percentiles(published),
        "label_wait_ms": _percentiles(np.array([v["LABEL_WAIT_MS"] for v in values])),
        "events_waited_for_labels": sum(v["LABEL_WAIT_MS"] > 0 for v in values),
        "slowest_ms": sorted(scored.tolist())[-5:],
    }


def _percentiles(values: np.ndarray) -> dict[str, float]:
    return {f"p{q}": float(np.percentile(values, q)) for q in (50, 90, 99, 99.9)} | {
        "max": float(values.max())
    }


def run_parity(
    redis_url: str, holder: ChampionHolder, frame: pd.DataFrame, scores: list[dict[str, Any]]
) -> dict[str, Any]:
    """Online vs offline features for every event, and stream vs offline probabilities."""
    store = OnlineFeatureStore.from_config(RedisConfig(url=redis_url))
    ordered = frame.sort_values(["TX_DATETIME", "TRANSACTION_ID"])
    events = transaction_events(ordered)
    online = store.enrich(events, record=False)
    offline = compute_features(ordered).loc[:, list(FEATURE_NAMES)].to_numpy()
    difference = np.abs(online.features - offline)
    per_feature = dict(zip(FEATURE_NAMES, difference.max(axis=0).tolist(), strict=True))
    offline_scores = score_frame(holder.model(), frame).set_index("TRANSACTION_ID")[
        "fraud_probability"
    ]
    streamed = pd.Series({s["TRANSACTION_ID"]: s["FRAUD_PROBABILITY"] for s in scores})
    common = streamed.index.intersection(offline_scores.index)
    return {
        "events": len(events),
        "statuses": {s: online.status.count(s) for s in set(online.status)},
        "max_abs_feature_difference": float(difference.max()),
        "worst_feature": max(per_feature, key=per_feature.__getitem__),
        "max_abs_probability_difference": float(
            np.abs(streamed.loc[common].to_numpy() - offline_scores.loc[common].to_numpy()).max()
        ),
        "probabilities_compared": len(common),
    }


def run_profile(
    redis_url: str, holder: ChampionHolder, frame: pd.DataFrame, batches: int = 40
) -> dict[str, Any]:
    """Where one 500-event batch's time goes, per event (in process, no broker)."""
    client = redis.Redis.from_url(redis_url)
    store = OnlineFeatureStore(client, RedisConfig(url=redis_url, prefix="profile"))
    store.clear()
    scorer = BatchScorer(store=store, model=holder.model, label_wait_max_seconds=0)
    ordered = frame.sort_values(["TX_DATETIME", "TRANSACTION_ID"]).head(500 * batches)
    raw = [event.to_json() for event in transaction_events(ordered)]
    totals = {"validate": 0.0, "enrich_redis": 0.0, "score_and_events": 0.0, "serialize": 0.0}
    for start in range(0, len(raw), 500):
        records = [
            RawRecord(v, "t", 0, start + i, time.time())
            for i, v in enumerate(raw[start : start + 500])
        ]
        t0 = time.perf_counter()
        accepted, _ = accept(records, 65_536)
        t1 = time.perf_counter()
        store.enrich([a.event for a in accepted], record=False)
        t2 = time.perf_counter()
        result = scorer.score(accepted)
        t3 = time.perf_counter()
        for score in result.scores:
            score.to_json()
        t4 = time.perf_counter()
        totals["validate"] += t1 - t0
        totals["enrich_redis"] += t2 - t1
        totals["score_and_events"] += (t3 - t2) - (t2 - t1)  # score() enriches once more
        totals["serialize"] += t4 - t3
    return {name: seconds / len(raw) * 1e6 for name, seconds in totals.items()} | {
        "unit": "µs/event"
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=120_000)
    parser.add_argument("--latency-events", type=int, default=30_000)
    parser.add_argument("--rate", type=int, default=1_000)
    parser.add_argument("--naive-seconds", type=float, default=20.0)
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    run_dir = ROOT / ".run" / "bench-stream"
    run_dir.mkdir(parents=True, exist_ok=True)

    config = load_config(ROOT / "configs" / "config.yaml", use_env=False)
    holder = ChampionHolder(config)
    holder.load_initial()
    frame = simulate(SimulatorConfig()).head(args.events)
    source = RESULTS / "stream-input.parquet"
    frame.to_parquet(source)

    broker = start_tansu(log_file=run_dir / "tansu.log")
    redis_server = start_redis(log_file=run_dir / "redis.log")
    results: dict[str, Any] = {"events": len(frame), "machine_cores": os.cpu_count()}
    try:
        bootstrap, redis_url = broker.address, f"redis://{redis_server.address}/0"
        kafka = KafkaConfig(bootstrap_servers=bootstrap, topics=_topics("bench"))
        create_topics(kafka)
        env = _env(kafka, redis_url, "bench-ours")
        results["replay_prefill"] = _replay(source, env, "--speed", "max")
        results["replay_prefill"]["events_per_second_incl_start"] = (
            len(frame) / results["replay_prefill"]["seconds"]
        )
        print("pre-filled", results["replay_prefill"], flush=True)
        results["noop_agent"] = run_noop(bootstrap, kafka, len(frame), run_dir)
        print("no-op agent", results["noop_agent"], flush=True)
        results["ours"], scores = run_ours(bootstrap, env, kafka, len(frame), run_dir)
        print("ours", results["ours"], flush=True)
        results["parity"] = run_parity(redis_url, holder, frame, scores)
        print("parity", results["parity"], flush=True)
        results["naive"] = run_naive(bootstrap, kafka, redis_url, holder, args.naive_seconds)
        print("naive", results["naive"], flush=True)
        results["profile"] = run_profile(redis_url, holder, frame)
        results["latency"] = run_latency(
            bootstrap, redis_url, source, args.rate, args.latency_events, run_dir
        )
    finally:
        broker.stop()
        redis_server.stop()
    ours, noop, naive = (results[k]["events_per_second"] for k in ("ours", "noop_agent", "naive"))
    results["ratios"] = {"ours_vs_noop": ours / noop, "ours_vs_naive": ours / naive}
    results["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    (RESULTS / "stream.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    latency = results["latency"]["produce_to_scored_ms"]
    print(f"\n{'':28}{'events/s':>10}")
    for name in ("noop_agent", "ours", "naive"):
        print(f"{name:28}{results[name]['events_per_second']:>10,.0f}")
    print(f"ours / no-op agent: {ours / noop:.2f}   ours / naive: {ours / naive:.1f}x")
    print(f"latency at {args.rate}/s: p50 {latency['p50']:.1f} ms, p99 {latency['p99']:.1f} ms")
    print(
        f"parity: features max |diff| {results['parity']['max_abs_feature_difference']:.2e}, "
        f"probabilities max |diff| {results['parity']['max_abs_probability_difference']:.2e}"
    )
    print(f"profile (µs/event): {results['profile']}")


if __name__ == "__main__":
    main()
