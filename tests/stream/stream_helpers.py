"""Helpers of the stream tests: read topics back, run workers as real processes, compare."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from fraudstream.broker.config import KafkaConfig, TopicsConfig


def unique_topics() -> TopicsConfig:
    """Topic names no other test uses (the session broker is shared)."""
    return TopicsConfig().tagged(uuid.uuid4().hex[:8])


def stream_env(kafka: KafkaConfig, redis_url: str, app_id: str) -> dict[str, str]:
    """``FRAUDSTREAM_*`` variables pointing a process at this broker, topics, Redis and group."""
    return {
        "FRAUDSTREAM_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "FRAUDSTREAM_KAFKA_PARTITIONS": str(kafka.partitions),
        "FRAUDSTREAM_KAFKA_TOPICS": kafka.topics.model_dump_json(),
        "FRAUDSTREAM_REDIS_URL": redis_url,
        "FRAUDSTREAM_STREAM_APP_ID": app_id,
        "FRAUDSTREAM_STREAM_MODEL_REFRESH_SECONDS": "1",
    }


@dataclass
class TopicReader:
    """Reads a topic from the beginning, keeping what it has read (no consumer group)."""

    bootstrap: str
    topic: str
    records: list[Any] = field(default_factory=list)
    _consumer: KafkaConsumer | None = None

    def _open(self) -> KafkaConsumer:
        if self._consumer is None:
            consumer = KafkaConsumer(
                bootstrap_servers=self.bootstrap,
                enable_auto_commit=False,
                fetch_max_wait_ms=50,
                consumer_timeout_ms=200,
            )
            partitions = None
            deadline = time.monotonic() + 10
            while not partitions and time.monotonic() < deadline:
                partitions = consumer.partitions_for_topic(self.topic)
                if not partitions:
                    time.sleep(0.1)
            assert partitions, f"topic {self.topic} does not exist"
            tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            self._consumer = consumer
        return self._consumer

    def poll(self, seconds: float = 0.5) -> int:
        """Read what arrives within ``seconds``; how many records were new."""
        consumer = self._open()
        before = len(self.records)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=100, max_records=5000)
            for records in batch.values():
                self.records.extend(records)
        return len(self.records) - before

    def until_idle(self, idle: float = 2.0, limit: float = 120.0) -> list[Any]:
        """Read until nothing new arrives for ``idle`` seconds (end offsets are not trusted)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and self.poll(idle):
            pass
        return self.records

    def json_values(self) -> list[dict[str, Any]]:
        """The records' values parsed as JSON."""
        return [json.loads(r.value) for r in self.records]

    def close(self) -> None:
        """Close the consumer."""
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


def wait_for_ids(
    reader: TopicReader, expected: set[int], timeout: float, *, field_name: str = "TRANSACTION_ID"
) -> set[int]:
    """Read ``reader`` until every expected id was seen (or the timeout); the ids seen."""
    deadline = time.monotonic() + timeout
    seen: set[int] = set()
    len_read = 0
    while time.monotonic() < deadline:
        reader.poll(0.5)
        seen.update(json.loads(r.value)[field_name] for r in reader.records[len_read:])
        len_read = len(reader.records)
        if expected <= seen:
            break
    return seen


@dataclass
class WorkerProcess:
    """A ``fraudstream worker`` running as a real process."""

    process: subprocess.Popen[bytes]
    log: Path
    handle: Any = None

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._close()

    def _close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._close()

    def output(self) -> str:
        """What the worker printed."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start_worker(fraudstream: str, root: Path, env: dict[str, str], name: str) -> WorkerProcess:
    """Start ``fraudstream worker`` in ``root``; its output goes to a log file there."""
    log = root / f"{name}.log"
    handle = log.open("wb")
    process = subprocess.Popen(
        [fraudstream, "worker", "--datadir", str(root / ".run" / name)],
        cwd=root,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    return WorkerProcess(process, log, handle)


def stop_all(workers: Iterable[WorkerProcess]) -> None:
    """Stop every worker (for a finally block)."""
    for worker in workers:
        worker.stop()


__all__ = [
    "TopicReader",
    "WorkerProcess",
    "start_worker",
    "stop_all",
    "stream_env",
    "unique_topics",
    "wait_for_ids",
]
