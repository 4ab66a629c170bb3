"""``fraudstream stream-demo``: the stream end to end on the last simulated days, then a summary.

What ``make demo`` runs after the pipeline. It uses the configured broker and Redis when
``FRAUDSTREAM_KAFKA_BOOTSTRAP_SERVERS`` / ``FRAUDSTREAM_REDIS_URL`` are set, and otherwise starts
its own (Tansu with memory storage, a memory-only ``redis-server``) on free ports. Its topics and
Redis keys carry a run tag, so a shared broker or Redis keeps nothing of another run. Then:

1. warm the online store with the history before the replayed days (``features rebuild``'s
   bulk load, labels known by then);
2. start one ``fraudstream worker`` (the registry's champion);
3. replay the last days at full speed, and read ``scores`` and ``alerts`` until every
   transaction is scored;
4. print the rates, the alerts with their reasons (and how many were frauds), the slowest
   latencies, and the labels waits;
5. stop the worker, the broker and Redis it started, and delete its keys from a shared Redis,
   also after Ctrl-C or an error. Run state goes under ``.run/`` (git-ignored).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Final

import numpy as np
import pandas as pd
import typer

from fraudstream.broker.config import KafkaConfig
from fraudstream.broker.kafka_python import prepare_kafka_python
from fraudstream.broker.process import ServerState, start_redis, start_tansu
from fraudstream.broker.topics import create_topics
from fraudstream.cli.context import app_state
from fraudstream.cli.replay import read_source
from fraudstream.config import FraudstreamConfig
from fraudstream.errors import ServiceError
from fraudstream.feature_store.definition import lookback_days
from fraudstream.feature_store.online.rebuild import rebuild_from_frame
from fraudstream.feature_store.online.store import OnlineFeatureStore
from fraudstream.producer.replay import ReplayOptions, replay
from fraudstream.transactions.contract import TRANSACTION_ID, TX_DATETIME, TX_FRAUD

RUN_DIR: Final = Path(".run/stream-demo")
_BROKER_VARIABLE: Final = "FRAUDSTREAM_KAFKA_BOOTSTRAP_SERVERS"
_REDIS_VARIABLE: Final = "FRAUDSTREAM_REDIS_URL"
_SHOWN_ALERTS: Final = 5
_SHOWN_SLOWEST: Final = 5


@dataclass
class _Run:
    """What this demo started and must stop."""

    servers: list[ServerState] = field(default_factory=list)
    worker: subprocess.Popen[bytes] | None = None
    store: OnlineFeatureStore | None = None
    shared_redis: bool = False

    def stop(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.worker.send_signal(signal.SIGTERM)
            try:
                self.worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait()
        if self.store is not None:
            if self.shared_redis:
                with contextlib.suppress(ServiceError):
                    self.store.clear()
            self.store.close()
        for server in reversed(self.servers):
            server.stop()


@contextlib.contextmanager
def _running() -> Iterator[_Run]:
    run = _Run()
    try:
        yield run
    finally:
        run.stop()


def _echo(text: str) -> None:
    typer.echo(text)


def _services(run: _Run, config: FraudstreamConfig, tag: str) -> FraudstreamConfig:
    """The configured broker and Redis, or private ones; topics and keys of this run only."""
    kafka = config.kafka
    if not os.environ.get(_BROKER_VARIABLE):
        state = start_tansu(log_file=RUN_DIR / "tansu.log")
        run.servers.append(state)
        kafka = kafka.model_copy(update={"bootstrap_servers": state.address})
        _echo(f"broker: started Tansu (memory storage) at {state.address}")
    else:
        _echo(f"broker: {kafka.bootstrap_servers} (configured)")
    redis_config = config.redis
    if not os.environ.get(_REDIS_VARIABLE):
        state = start_redis(log_file=RUN_DIR / "redis.log")
        run.servers.append(state)
        redis_config = redis_config.model_copy(update={"url": f"redis://{state.address}/0"})
        _echo(f"redis: started a memory-only redis-server at {state.address}")
    else:
        run.shared_redis = True
        _echo(f"redis: {redis_config.url} (configured; this run's keys are deleted at the end)")
    kafka = kafka.model_copy(update={"topics": kafka.topics.tagged(f"demo-{tag}")})
    redis_config = redis_config.model_copy(update={"prefix": f"{redis_config.prefix}-demo-{tag}"})
    stream = config.stream.model_copy(update={"app_id": f"{config.stream.app_id}-demo-{tag}"})
    return config.model_copy(update={"kafka": kafka, "redis": redis_config, "stream": stream})


def _worker_env(config: FraudstreamConfig) -> dict[str, str]:
    return os.environ | {
        _BROKER_VARIABLE: config.kafka.bootstrap_servers,
        "FRAUDSTREAM_KAFKA_TOPICS": config.kafka.topics.model_dump_json(),
        _REDIS_VARIABLE: config.redis.url,
        "FRAUDSTREAM_REDIS_PREFIX": config.redis.prefix,
        "FRAUDSTREAM_STREAM_APP_ID": config.stream.app_id,
    }


def _start_worker(config: FraudstreamConfig, config_path: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "fraudstream",
        "--config",
        str(config_path),
        "worker",
        "--datadir",
        str(RUN_DIR / "faust"),
    ]
    log = (RUN_DIR / "worker.log").open("wb")
    try:
        return subprocess.Popen(  # noqa: S603 - our own module, no shell
            command, env=_worker_env(config), stdout=log, stderr=subprocess.STDOUT
        )
    finally:
        log.close()


def _reader(kafka: KafkaConfig) -> Any:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=kafka.servers(),
        enable_auto_commit=False,
        group_id=None,
        fetch_max_wait_ms=100,
        max_poll_records=10_000,
    )
    partitions = [
        TopicPartition(topic, p)
        for topic in (kafka.topics.scores, kafka.topics.alerts)
        for p in sorted(consumer.partitions_for_topic(topic) or ())
    ]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    return consumer


@dataclass
class _Outputs:
    """Scores (one per transaction: the first wins) and alerts read back from the topics."""

    expected: set[int]
    scores: dict[int, dict[str, Any]] = field(default_factory=dict)
    alerts: dict[int, dict[str, Any]] = field(default_factory=dict)
    first_ms: int | None = None
    last_ms: int | None = None

    def read(self, consumer: Any, kafka: KafkaConfig, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for partition, records in consumer.poll(timeout_ms=200).items():
                target = self.scores if partition.topic == kafka.topics.scores else self.alerts
                for record in records:
                    value = json.loads(record.value)
                    target.setdefault(int(value[TRANSACTION_ID]), value)
                    if partition.topic == kafka.topics.scores:
                        self.first_ms = min(self.first_ms or record.timestamp, record.timestamp)
                        self.last_ms = max(self.last_ms or record.timestamp, record.timestamp)

    @property
    def missing(self) -> int:
        return len(self.expected - self.scores.keys())


def _wait_for_scores(
    outputs: _Outputs,
    consumer: Any,
    kafka: KafkaConfig,
    worker: subprocess.Popen[bytes],
    limit: float,
) -> None:
    started = time.monotonic()
    shown = 0.0
    while outputs.missing and time.monotonic() - started < limit:
        if worker.poll() is not None:
            msg = f"the worker stopped (exit {worker.returncode}); see {RUN_DIR / 'worker.log'}"
            raise ServiceError(msg)
        outputs.read(consumer, kafka, 1.0)
        if time.monotonic() - shown >= 5:
            shown = time.monotonic()
            done = len(outputs.expected) - outputs.missing
            _echo(f"  scored {done:,} of {len(outputs.expected):,}")
    if outputs.missing:
        msg = (
            f"{outputs.missing:,} transactions were not scored within {limit:.0f} s; see "
            f"{RUN_DIR / 'worker.log'}"
        )
        raise ServiceError(msg)
    outputs.read(consumer, kafka, 1.0)  # the alerts of the last batch


def _percentiles(values: np.ndarray) -> str:
    p50, p99 = np.percentile(values, [50, 99])
    return f"p50 {p50:,.0f} ms, p99 {p99:,.0f} ms, max {values.max():,.0f} ms"


def _summary(outputs: _Outputs, frame: pd.DataFrame, replay_seconds: float, events: int) -> None:
    scores = pd.DataFrame(outputs.scores.values())
    span = ((outputs.last_ms or 0) - (outputs.first_ms or 0)) / 1000.0
    rate = (len(scores) - 1) / span if span > 0 else float("nan")
    _echo(f"\nreplay: {events:,} events (transactions and labels) in {replay_seconds:.1f} s")
    _echo(f"scored: {len(scores):,} transactions; the worker published {rate:,.0f} scores/s")
    frauds = frame.set_index(TRANSACTION_ID)[TX_FRAUD] if TX_FRAUD in frame else None
    alert_ids = list(outputs.alerts)
    caught = int(frauds.loc[alert_ids].sum()) if frauds is not None and alert_ids else 0
    _echo(
        f"alerts: {len(alert_ids):,} ({caught:,} of them frauds; "
        f"{int(frauds.sum()) if frauds is not None else 0:,} frauds in the replayed days)"
    )
    top = sorted(outputs.alerts.values(), key=lambda a: -float(a["FRAUD_PROBABILITY"]))
    for alert in top[:_SHOWN_ALERTS]:
        reasons = ", ".join(
            f"{r['FEATURE']}={r['VALUE']:.4g} ({r['CONTRIBUTION']:+.2f})" for r in alert["REASONS"]
        )
        _echo(
            f"  {alert[TRANSACTION_ID]} card {alert['CUSTOMER_ID']} terminal "
            f"{alert['TERMINAL_ID']} amount {alert['TX_AMOUNT']:.2f}: p={alert['FRAUD_PROBABILITY']:.3f}"
            f" because {reasons}"
        )
    latency = scores["PROCESSING_MS"].to_numpy(float)
    _echo(
        f"latency broker → scored: {_percentiles(latency)} (the replay outruns one worker at full "
        "speed, so this includes time queued; benchmarks/stream.py measures it at 1,000 events/s)"
    )
    slowest = scores.nlargest(_SHOWN_SLOWEST, "PROCESSING_MS")
    for row in slowest.to_dict("records"):
        _echo(
            f"  {row[TRANSACTION_ID]}: {row['PROCESSING_MS']:,.0f} ms "
            f"(waited {row['LABEL_WAIT_MS']:,.0f} ms for labels)"
        )
    waited = scores["LABEL_WAIT_MS"].to_numpy(float)
    _echo(
        f"labels waits: {int((waited > 0).sum()):,} transactions waited for the labels watermark, "
        f"longest {waited.max():,.0f} ms"
    )


def stream_demo(
    ctx: typer.Context,
    days: Annotated[
        int, typer.Option("--days", min=1, help="Replay this many last days of the data.")
    ] = 3,
    timeout: Annotated[
        float, typer.Option("--timeout", min=10, help="Give up when not all scored by then (s).")
    ] = 600.0,
) -> None:
    """Run the stream on the last simulated days: broker, worker, replay, then a summary."""
    state = app_state(ctx)
    config = state.config()
    source = read_source(config.paths.processed_dir / "transactions.parquet", config)
    frame = source.frame
    start = pd.Timestamp(frame[TX_DATETIME].max()).normalize() - timedelta(days=days - 1)
    start_time: datetime = start.to_pydatetime()
    # What the declaration reads back from the start: older history changes no feature.
    oldest = start - timedelta(days=max(lookback_days().values()))
    history = frame[(frame[TX_DATETIME] >= oldest) & (frame[TX_DATETIME] < start)]
    replayed = frame[frame[TX_DATETIME] >= start]
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    prepare_kafka_python()
    began = time.monotonic()
    with _running() as run:
        config = _services(run, config, uuid.uuid4().hex[:6])
        create_topics(config.kafka)
        store = OnlineFeatureStore.from_config(config.redis)
        run.store = store
        loading = time.monotonic()
        warmed = rebuild_from_frame(store, history, known_through=start_time)
        _echo(
            f"online store: {warmed.transactions:,} transactions ({oldest.date()} to "
            f"{start.date()}: the features' lookback) and {warmed.labels:,} labels known by "
            f"then loaded in {time.monotonic() - loading:.0f} s"
        )
        run.worker = _start_worker(config, state.config_path)
        _echo(f"worker: started (log {RUN_DIR / 'worker.log'})")
        consumer = _reader(config.kafka)
        try:
            outputs = _Outputs(expected=set(replayed[TRANSACTION_ID].tolist()))
            _echo(f"replay: {len(replayed):,} transactions from {start.date()} on, full speed")
            replaying = time.monotonic()
            summary = replay(
                source,
                config.kafka,
                config.replay.model_copy(update={"checkpoint_dir": RUN_DIR / "replay"}),
                ReplayOptions(start=start_time, resume=False),
            )
            _wait_for_scores(outputs, consumer, config.kafka, run.worker, timeout)
            _echo(f"all scored {time.monotonic() - replaying:.0f} s after the replay began")
        finally:
            consumer.close()
        _summary(outputs, replayed, summary.seconds, summary.events)
    _echo(f"\nstream demo: {time.monotonic() - began:.0f} s; stopped everything it started")


def register(app: typer.Typer) -> None:
    """Add the ``stream-demo`` command to ``app``."""
    app.command("stream-demo")(stream_demo)


__all__ = ["register", "stream_demo"]
