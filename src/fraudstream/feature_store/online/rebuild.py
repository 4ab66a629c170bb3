"""Rebuild the online state from the transaction log: a file, or the broker's topics.

Both paths bulk-load every transaction and every label known at the end of the log (writes are
idempotent, so a rebuild onto existing state only adds what is missing), prune what the
declaration no longer reads as they go, and leave the labels watermark where the log says labels
are complete. The stream then goes on from there and computes what an uninterrupted run would.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Final

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fraudstream.broker.config import KafkaConfig
from fraudstream.broker.kafka_python import prepare_kafka_python
from fraudstream.broker.process import port_open
from fraudstream.errors import ServiceError
from fraudstream.feature_store.online.frames import label_events, transaction_events
from fraudstream.feature_store.online.layout import from_microseconds, to_microseconds
from fraudstream.feature_store.online.store import OnlineFeatureStore
from fraudstream.feature_store.vocabulary import Entity
from fraudstream.transactions.contract import TX_DATETIME
from fraudstream.transactions.event import (
    WATERMARK_HEADER,
    LabelEvent,
    LabelWatermark,
    TransactionEvent,
)

logger = logging.getLogger(__name__)

#: Events or labels per bulk write.
_CHUNK: Final = 20_000
#: Transactions between two prunings of the entities they touched (bounds Redis's memory).
_PRUNE_EVERY: Final = 200_000
_POLL_MS: Final = 200


class RebuildSummary(BaseModel):
    """What a rebuild read and applied."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transactions: Annotated[int, Field(ge=0)]
    labels: Annotated[int, Field(ge=0)]
    #: Records that are not valid events (left out).
    skipped: Annotated[int, Field(ge=0)] = 0
    #: The labels watermark after the rebuild (naive UTC); ``None`` when the log has none.
    watermark: datetime | None = None


class _Loader:
    """Applies events and labels in chunks, pruning the entities they touch now and then."""

    def __init__(self, store: OnlineFeatureStore) -> None:
        self.store = store
        self.transactions = 0
        self.labels = 0
        self._since_prune = 0
        self._touched: dict[Entity, set[int]] = {e: set() for e in store.entities}

    def add(self, events: Sequence[TransactionEvent], labels: Sequence[LabelEvent]) -> None:
        for start in range(0, len(events), _CHUNK):
            chunk = events[start : start + _CHUNK]
            self.store.record_transactions(chunk)
            self._touch(chunk)
            self.transactions += len(chunk)
            self._since_prune += len(chunk)
        for start in range(0, len(labels), _CHUNK):
            chunk_labels = labels[start : start + _CHUNK]
            self.store.apply_labels(chunk_labels)
            self._touch(chunk_labels)
            self.labels += len(chunk_labels)
        if self._since_prune >= _PRUNE_EVERY:
            self.prune()

    def _touch(self, items: Sequence[TransactionEvent | LabelEvent]) -> None:
        for entity, ids in self._touched.items():
            attribute = entity.value.lower()
            ids.update(getattr(item, attribute) for item in items)

    def prune(self) -> None:
        self.store.prune(self._touched)
        self._touched = {e: set() for e in self.store.entities}
        self._since_prune = 0


def rebuild_from_frame(
    store: OnlineFeatureStore,
    transactions_frame: pd.DataFrame,
    *,
    known_through: datetime | None = None,
) -> RebuildSummary:
    """Load a transaction log (the contract's layout, validated) into the store.

    Every transaction is recorded, and every label known by ``known_through`` (default: the
    log's last transaction time, where a replay of it would stand); the watermark is raised to
    the last of those labels' times.
    """
    if known_through is None and len(transactions_frame):
        known_through = pd.Timestamp(transactions_frame[TX_DATETIME].max()).to_pydatetime()
    ordered = transactions_frame.sort_values(TX_DATETIME, kind="stable")
    loader = _Loader(store)
    last_label: datetime | None = None
    for start in range(0, len(ordered), _CHUNK):
        rows = ordered.iloc[start : start + _CHUNK]
        labels = label_events(rows, known_through)
        loader.add(transaction_events(rows), labels)
        times = [label.tx_label_datetime for label in labels]
        if times and (last_label is None or max(times) > last_label):
            last_label = max(times)
    loader.prune()
    watermark = store.watermark() if last_label is None else store.advance_watermark(last_label)
    return RebuildSummary(
        transactions=loader.transactions, labels=loader.labels, watermark=watermark
    )


def rebuild_from_broker(
    store: OnlineFeatureStore, kafka: KafkaConfig, idle_seconds: float = 2.0
) -> RebuildSummary:
    """Load the broker's ``transactions`` and ``labels`` topics, from the beginning, into the store.

    The topics are read without a consumer group (nothing is committed) until no record has
    arrived for ``idle_seconds``. Records that are not valid events are counted and left out.
    The watermark comes from the :class:`LabelWatermark` records and the
    :data:`WATERMARK_HEADER` of the label records.

    Raises:
        ServiceError: The broker is not reachable, or has no transactions topic.
    """
    loader = _Loader(store)
    reader = _TopicReader(kafka)
    for batch in reader.batches(idle_seconds):
        loader.add(batch.transactions, batch.labels)
    loader.prune()
    watermark = store.watermark()
    if reader.watermark is not None:
        watermark = store.advance_watermark(reader.watermark)
    return RebuildSummary(
        transactions=loader.transactions,
        labels=loader.labels,
        skipped=reader.skipped,
        watermark=watermark,
    )


@dataclass
class _Batch:
    transactions: list[TransactionEvent] = field(default_factory=list)
    labels: list[LabelEvent] = field(default_factory=list)


class _TopicReader:
    """Reads the transactions and labels topics from the beginning, validating each record."""

    def __init__(self, kafka: KafkaConfig) -> None:
        self.kafka = kafka
        self.skipped = 0
        self.watermark: datetime | None = None

    def batches(self, idle_seconds: float) -> Iterator[_Batch]:
        """Validated records, a poll at a time, until the topics have been idle long enough."""
        consumer = _assigned_consumer(self.kafka)
        topics = self.kafka.topics
        try:
            last_record = time.monotonic()
            while time.monotonic() - last_record < idle_seconds:
                polled = consumer.poll(timeout_ms=_POLL_MS)
                if not polled:
                    continue
                last_record = time.monotonic()
                batch = _Batch()
                for partition, records in polled.items():
                    for record in records:
                        if partition.topic == topics.transactions:
                            self._read_transaction(record.value, batch)
                        else:
                            self._read_label(record.value, record.headers, batch)
                yield batch
        finally:
            consumer.close()

    def _read_transaction(self, value: bytes | None, batch: _Batch) -> None:
        try:
            batch.transactions.append(TransactionEvent.model_validate_json(value or b""))
        except ValidationError:
            self.skipped += 1

    def _read_label(
        self, value: bytes | None, headers: Sequence[tuple[str, bytes]] | None, batch: _Batch
    ) -> None:
        try:
            batch.labels.append(LabelEvent.model_validate_json(value or b""))
        except ValidationError:
            try:
                mark = LabelWatermark.model_validate_json(value or b"")
            except ValidationError:
                self.skipped += 1
                return
            self._advance(mark.labels_known_through)
        for key, header in headers or ():
            if key == WATERMARK_HEADER:
                self._advance_from_header(header)

    def _advance_from_header(self, header: bytes) -> None:
        try:
            self._advance(datetime.fromisoformat(header.decode()))
        except (UnicodeDecodeError, ValueError):
            logger.warning(
                "label record with an unreadable %s header: %r", WATERMARK_HEADER, header
            )

    def _advance(self, through: datetime) -> None:
        moment = from_microseconds(to_microseconds(through))  # naive UTC
        if self.watermark is None or moment > self.watermark:
            self.watermark = moment


def _host_port(server: str) -> tuple[str, int]:
    host, _, port = server.rpartition(":")
    return host, int(port)


def _unreachable(kafka: KafkaConfig, reason: object) -> ServiceError:
    return ServiceError(
        f"the broker at {kafka.bootstrap_servers} is not reachable ({reason}); start it "
        "(`fraudstream broker start`) or point FRAUDSTREAM_KAFKA_BOOTSTRAP_SERVERS at one"
    )


def _assigned_consumer(kafka: KafkaConfig) -> Any:
    """A consumer without a group, assigned every partition of both topics, at their start."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    # kafka-python leaks its sockets when its constructor fails: ask the ports first.
    if not any(port_open(*_host_port(server)) for server in kafka.servers()):
        raise _unreachable(kafka, "nothing listens there")
    prepare_kafka_python()
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=kafka.servers(),
            client_id=f"{kafka.client_id}-rebuild",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            allow_auto_create_topics=False,
            max_poll_records=_CHUNK,
            fetch_max_wait_ms=100,
        )
    except (KafkaError, OSError) as exc:
        raise _unreachable(kafka, exc) from exc
    partitions = []
    for topic in (kafka.topics.transactions, kafka.topics.labels):
        numbers = consumer.partitions_for_topic(topic)
        if not numbers and topic == kafka.topics.transactions:
            consumer.close()
            msg = (
                f"the broker at {kafka.bootstrap_servers} has no topic {topic!r}: nothing to "
                "rebuild from (replay a file first, or check kafka.topics in the config)"
            )
            raise ServiceError(msg)
        partitions += [TopicPartition(topic, number) for number in sorted(numbers or ())]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    return consumer


__all__ = ["RebuildSummary", "rebuild_from_broker", "rebuild_from_frame"]
