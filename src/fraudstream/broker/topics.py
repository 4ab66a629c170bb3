"""Topic administration: create the stream's topics, list them, read one back.

Every call has bounded timeouts: an unreachable broker is a :class:`ServiceError` naming the
address after a few seconds, never a hang.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from fraudstream.broker.config import KafkaConfig
from fraudstream.broker.kafka_python import prepare_kafka_python
from fraudstream.errors import ServiceError

#: Seconds to reach the broker and to wait for one admin answer.
DEFAULT_TIMEOUT: Final = 10.0


def expected_partitions(kafka: KafkaConfig) -> dict[str, int]:
    """Every topic of the stream and its configured number of partitions, transactions first."""
    topics = kafka.topics
    layout = dict.fromkeys(topics.all(), kafka.partitions)
    layout[topics.labels] = kafka.label_partitions
    return layout


def describe_error(exc: BaseException) -> str:
    """``Type: message`` of an exception, once (Kafka errors put their type in the message)."""
    text = str(exc).strip()
    kind = type(exc).__name__
    return text if text.startswith(kind) else f"{kind}: {text}" if text else kind


def _unreachable(kafka: KafkaConfig, exc: BaseException) -> ServiceError:
    return ServiceError(
        f"cannot reach the Kafka broker at {kafka.bootstrap_servers} ({describe_error(exc)}). "
        "Start one with `fraudstream broker start` or point FRAUDSTREAM_KAFKA_BOOTSTRAP_SERVERS "
        "at a running broker."
    )


@contextmanager
def admin_client(kafka: KafkaConfig, timeout: float = DEFAULT_TIMEOUT) -> Iterator[Any]:
    """A connected ``KafkaAdminClient``; any Kafka or socket error becomes a ServiceError."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    millis = int(timeout * 1000)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=kafka.servers(),
            client_id=kafka.client_id,
            request_timeout_ms=millis,
            bootstrap_timeout_ms=millis,
        )
    except (KafkaError, OSError) as exc:
        raise _unreachable(kafka, exc) from exc
    try:
        yield admin
    except (KafkaError, OSError) as exc:
        raise _unreachable(kafka, exc) from exc
    finally:
        admin.close()


def _partition_counts(admin: Any, names: list[str]) -> dict[str, int]:
    """Partitions of each existing topic among ``names`` (missing topics are left out)."""
    described = admin.describe_topics(names) if names else []
    return {
        str(topic["name"]): len(topic["partitions"])
        for topic in described
        if topic["error_code"] == 0
    }


def list_topics(kafka: KafkaConfig, timeout: float = DEFAULT_TIMEOUT) -> dict[str, int]:
    """Every topic on the broker and its number of partitions, by name.

    Raises:
        ServiceError: the broker cannot be reached.
    """
    with admin_client(kafka, timeout) as admin:
        names = sorted(str(name) for name in admin.list_topics())
        return dict(sorted(_partition_counts(admin, names).items()))


def _check_partitions(kafka: KafkaConfig, existing: dict[str, int]) -> None:
    for name, wanted in expected_partitions(kafka).items():
        have = existing.get(name)
        if have is not None and have < wanted:
            setting = "label_partitions" if name == kafka.topics.labels else "partitions"
            msg = (
                f"topic {name!r} exists on {kafka.bootstrap_servers} with {have} partition(s), "
                f"fewer than the {wanted} the configuration asks for (kafka.{setting}). Delete "
                f"the topic (a memory-storage broker forgets it on restart) or set kafka.{setting} "
                f"to {have}."
            )
            raise ServiceError(msg)


def create_topics(kafka: KafkaConfig, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
    """Create the stream's topics that do not exist yet; return the names it created.

    Idempotent: topics that already exist with at least the configured partitions are fine
    (another process creating one at the same moment is fine too).

    Raises:
        ServiceError: the broker cannot be reached, or a topic exists with fewer partitions than
            configured.
    """
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    layout = expected_partitions(kafka)
    created: list[str] = []
    with admin_client(kafka, timeout) as admin:
        existing = _partition_counts(admin, list(layout))
        _check_partitions(kafka, existing)
        for name, partitions in layout.items():
            if name in existing:
                continue
            try:
                admin.create_topics(
                    [NewTopic(name, partitions, kafka.replication_factor)],
                    timeout_ms=int(timeout * 1000),
                )
            except TopicAlreadyExistsError:
                continue
            created.append(name)
        _check_partitions(kafka, _partition_counts(admin, list(layout)))
    return created


@dataclass(frozen=True)
class TopicRecord:
    """One record read back from a topic."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]
    timestamp_ms: int


def _record(raw: Any) -> TopicRecord:
    return TopicRecord(
        partition=int(raw.partition),
        offset=int(raw.offset),
        key=raw.key,
        value=raw.value,
        headers={str(name): bytes(value) for name, value in raw.headers or []},
        timestamp_ms=int(raw.timestamp),
    )


def read_topic(
    kafka: KafkaConfig,
    topic: str,
    *,
    idle_seconds: float = 2.0,
    max_seconds: float = 600.0,
) -> list[TopicRecord]:
    """Every record of ``topic`` from the beginning, until nothing new came for ``idle_seconds``.

    This is how to count what a topic holds on any broker: Tansu's end offsets (ListOffsets) are
    not reliable. Records come in partition order (each partition in offset order).

    Raises:
        ServiceError: the broker cannot be reached, the topic does not exist, or reading took
            longer than ``max_seconds``.
    """
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    prepare_kafka_python()
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=kafka.servers(),
            client_id=kafka.client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            allow_auto_create_topics=False,
            max_poll_records=10_000,
            fetch_max_wait_ms=100,
            request_timeout_ms=int(DEFAULT_TIMEOUT * 1000),
            bootstrap_timeout_ms=int(DEFAULT_TIMEOUT * 1000),
        )
    except (KafkaError, OSError) as exc:
        raise _unreachable(kafka, exc) from exc
    try:
        return _drain(consumer, TopicPartition, topic, idle_seconds, max_seconds)
    finally:
        consumer.close()


def _drain(
    consumer: Any, partition_type: Any, topic: str, idle_seconds: float, max_seconds: float
) -> list[TopicRecord]:
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        msg = f"topic {topic!r} does not exist: create it with `fraudstream topics create`"
        raise ServiceError(msg)
    assigned = [partition_type(topic, number) for number in sorted(partitions)]
    consumer.assign(assigned)
    consumer.seek_to_beginning(*assigned)
    by_partition: dict[int, list[TopicRecord]] = {number: [] for number in sorted(partitions)}
    started = last = time.monotonic()
    while time.monotonic() - last < idle_seconds:
        if time.monotonic() - started > max_seconds:
            msg = f"reading topic {topic!r} took over {max_seconds:.0f} s: it keeps growing"
            raise ServiceError(msg)
        batches = consumer.poll(timeout_ms=100)
        for records in batches.values():
            for raw in records:
                by_partition[int(raw.partition)].append(_record(raw))
        if batches:
            last = time.monotonic()
    return [record for number in sorted(by_partition) for record in by_partition[number]]


__all__ = [
    "DEFAULT_TIMEOUT",
    "TopicRecord",
    "admin_client",
    "create_topics",
    "describe_error",
    "expected_partitions",
    "list_topics",
    "read_topic",
]
