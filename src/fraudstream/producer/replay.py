"""The replay producer: a transaction file, as one event-time sequence, onto the broker.

Transactions go to the transactions topic keyed by card (``CUSTOMER_ID``), labels to the labels
topic keyed by ``TRANSACTION_ID`` at the moment they become known, with the label watermarks
the scorer waits for (:mod:`fraudstream.producer.sequence`). Every record is acknowledged by all
in-sync replicas (``acks=all``); the producer retries and reconnects by itself, one request in
flight per connection so a retry never reorders a card's transactions. A checkpoint after each
confirmed stretch lets an interrupted replay resume (:mod:`fraudstream.producer.checkpoint`).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from fraudstream.broker.config import KafkaConfig
from fraudstream.broker.kafka_python import prepare_kafka_python
from fraudstream.broker.topics import create_topics, describe_error, list_topics
from fraudstream.errors import ConfigError, ServiceError
from fraudstream.producer.checkpoint import (
    ReplayKey,
    checkpoint_path,
    load_checkpoint,
    save_checkpoint,
)
from fraudstream.producer.config import ReplayConfig
from fraudstream.producer.encode import (
    EventColumns,
    iso_times,
    label_values,
    transaction_values,
    watermark_value,
)
from fraudstream.producer.pacing import Pacer, Speed
from fraudstream.producer.sequence import (
    LABEL,
    SEQUENCE_VERSION,
    TRANSACTION,
    WATERMARK,
    EmptySequenceError,
    Int64Array,
    ReplaySequence,
    build_sequence,
)
from fraudstream.transactions.event import WATERMARK_HEADER

logger = logging.getLogger(__name__)

#: ``(next record index, records in the sequence)`` after each stretch handed to the producer.
ReplayProgress = Callable[[int, int], None]
#: One record: topic, partition, key, value, headers, event time (µs), is a transaction.
_Record = tuple[str, int, bytes | None, bytes, list[tuple[str, bytes]] | None, int, bool]

#: Seconds the broker has to acknowledge a record, retries included, before the replay fails.
_DELIVERY_TIMEOUT_S: Final = 120.0
#: Seconds ``send`` may block on metadata or a full buffer (e.g. the broker is down).
_MAX_BLOCK_S: Final = 60.0


@dataclass(frozen=True)
class ReplayOptions:
    """What the user chose for one replay (only ``start`` and ``limit`` change the records)."""

    speed: Speed = field(default_factory=lambda: Speed(None))
    #: At most this many transactions per second.
    rate: float | None = None
    #: Transactions at or after it, labels known at or after it.
    start: datetime | None = None
    #: Stop after this many transactions.
    limit: int | None = None
    #: Continue from the checkpoint of the same replay (False: start over).
    resume: bool = True


@dataclass(frozen=True)
class ReplaySummary:
    """What one run of a replay sent, and where the replay stands."""

    transactions: int
    labels: int
    watermarks: int
    seconds: float
    resumed_from: int
    next_index: int
    total: int
    interrupted: bool
    already_finished: bool
    checkpoint: Path

    @property
    def events(self) -> int:
        """Transactions and labels sent (watermarks are not events)."""
        return self.transactions + self.labels

    @property
    def events_per_second(self) -> float:
        """Events sent per second of this run."""
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def finished(self) -> bool:
        """Whether every record of the sequence is confirmed."""
        return self.next_index >= self.total


@dataclass(frozen=True)
class ReplaySource:
    """The transactions to replay (validated, with label times) and where they came from."""

    frame: pd.DataFrame
    path: Path
    sha256: str


class _Encoder:
    """Turns stretches of the sequence into producer records."""

    def __init__(self, source: pd.DataFrame, sequence: ReplaySequence, kafka: KafkaConfig) -> None:
        self.columns = EventColumns.of(source)
        self.sequence = sequence
        self.topics = kafka.topics
        self.partitions: Int64Array = np.zeros(0, np.int64)

    def route(self, transaction_partitions: int) -> None:
        """Partition of each row's transaction: the default partitioner's choice for its key."""
        from kafka.partitioner.default import murmur2

        cards, inverse = np.unique(self.columns.customer_id, return_inverse=True)
        chosen = [
            (murmur2(str(card).encode()) & 0x7FFFFFFF) % transaction_partitions
            for card in cards.tolist()
        ]
        self.partitions = np.asarray(chosen, np.int64)[inverse]

    def records(self, start: int, stop: int) -> list[_Record]:
        """The records of sequence positions ``[start, stop)``, in order."""
        kinds = self.sequence.kinds[start:stop]
        rows = self.sequence.rows[start:stop]
        times = self.sequence.times_us[start:stop].tolist()
        out: list[_Record | None] = [None] * len(kinds)
        self._transactions(out, np.flatnonzero(kinds == TRANSACTION), rows, times)
        self._labels(out, np.flatnonzero(kinds == LABEL), rows, times, start)
        self._watermarks(out, np.flatnonzero(kinds == WATERMARK), times, start)
        return [record for record in out if record is not None]

    def _transactions(
        self, out: list[_Record | None], at: Int64Array, rows: Int64Array, times: list[int]
    ) -> None:
        picked = rows[at]
        topic = self.topics.transactions
        values = transaction_values(self.columns, picked)
        cards = self.columns.customer_id[picked].tolist()
        partitions = self.partitions[picked].tolist()
        for position, value, card, partition in zip(
            at.tolist(), values, cards, partitions, strict=True
        ):
            out[position] = (
                topic,
                partition,
                str(card).encode(),
                value,
                None,
                times[position],
                True,
            )

    def _labels(
        self,
        out: list[_Record | None],
        at: Int64Array,
        rows: Int64Array,
        times: list[int],
        start: int,
    ) -> None:
        if len(at) == 0:
            return
        picked = rows[at]
        topic = self.topics.labels
        values = label_values(self.columns, picked)
        ids = self.columns.transaction_id[picked].tolist()
        marks = iso_times(self.sequence.watermarks_us[start + at])
        for position, value, transaction, mark in zip(at.tolist(), values, ids, marks, strict=True):
            headers = [(WATERMARK_HEADER, mark.encode())]
            out[position] = (
                topic,
                0,
                str(transaction).encode(),
                value,
                headers,
                times[position],
                False,
            )

    def _watermarks(
        self, out: list[_Record | None], at: Int64Array, times: list[int], start: int
    ) -> None:
        topic = self.topics.labels
        for position, mark in zip(
            at.tolist(), iso_times(self.sequence.watermarks_us[start + at]), strict=True
        ):
            headers = [(WATERMARK_HEADER, mark.encode())]
            out[position] = (topic, 0, None, watermark_value(mark), headers, times[position], False)


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Let the cyclic garbage collector run less often while records stream out.

    kafka-python allocates several container objects per record (futures, callbacks); with the
    default thresholds the collector runs every few hundred records and rescans everything alive
    (measured: a fifth of the replay's time). What exists before the replay is frozen (never
    rescanned) and young objects are collected every 50,000 allocations; both are undone after.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, thresholds[1], thresholds[2])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _producer(kafka: KafkaConfig, config: ReplayConfig) -> Any:
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    prepare_kafka_python()
    try:
        return KafkaProducer(
            bootstrap_servers=kafka.servers(),
            client_id=kafka.client_id,
            acks="all",
            retries=config.retries,
            retry_backoff_ms=250,
            linger_ms=config.linger_ms,
            batch_size=config.batch_bytes,
            # one request in flight: a retried batch cannot overtake the next one
            max_in_flight_requests_per_connection=1,
            enable_idempotence=False,
            # topics are created up front; auto-creation would hide a missing one
            allow_auto_create_topics=False,
            request_timeout_ms=30_000,
            delivery_timeout_ms=int(_DELIVERY_TIMEOUT_S * 1000),
            max_block_ms=int(_MAX_BLOCK_S * 1000),
            bootstrap_timeout_ms=10_000,
            # client metrics cost time per batch and nothing reads them
            metrics_enabled=False,
        )
    except (KafkaError, OSError) as exc:
        msg = (
            f"cannot reach the Kafka broker at {kafka.bootstrap_servers} ({describe_error(exc)}): "
            "start one with `fraudstream broker start` or set FRAUDSTREAM_KAFKA_BOOTSTRAP_SERVERS"
        )
        raise ServiceError(msg) from exc


class _Run:
    """One run of a replay: sends stretches, confirms them, keeps the checkpoint."""

    def __init__(
        self,
        producer: Any,
        encoder: _Encoder,
        pacer: Pacer,
        stop: threading.Event,
        save: Callable[[int], None],
    ) -> None:
        self.producer = producer
        self.encoder = encoder
        self.pacer = pacer
        self.stop = stop
        self.save = save
        self.futures: list[Any] = []

    def send(self, records: list[_Record]) -> int:
        """Hand records to the producer until done or stopped; return how many it took."""
        send = self.producer.send
        append = self.futures.append
        pacer = self.pacer if self.pacer.active else None
        for count, (topic, partition, key, value, headers, when, is_tx) in enumerate(records):
            if pacer is not None:
                pacer.wait(when, is_tx)
            if self.stop.is_set():
                return count
            append(send(topic, value=value, key=key, headers=headers, partition=partition))
        return len(records)

    def confirm(self, next_index: int) -> None:
        """Wait until the broker acknowledged everything sent, then checkpoint ``next_index``.

        Raises:
            ServiceError: a record was refused after every retry (the checkpoint stays put).
        """
        from kafka.errors import KafkaError

        try:
            self.producer.flush(timeout=_DELIVERY_TIMEOUT_S + 10)
        except KafkaError as exc:
            raise self._failure(describe_error(exc)) from exc
        failed = [future for future in self.futures if future.failed()]
        if failed:
            reason = (
                f"{len(failed):,} record(s) refused, first: {describe_error(failed[0].exception)}"
            )
            raise self._failure(reason)
        self.futures.clear()
        self.save(next_index)

    def _failure(self, reason: str) -> ServiceError:
        return ServiceError(
            f"the broker did not confirm the replay's records ({reason}). Everything before the "
            "last checkpoint is confirmed: rerun the same command to resume from there once the "
            "broker is back (records after it may be sent twice; consumers de-duplicate by "
            "TRANSACTION_ID)."
        )

    def run(
        self, index: int, total: int, chunk: int, every_s: float, progress: ReplayProgress
    ) -> int:
        """Send from ``index`` to the end (or a stop); return the next index confirmed."""
        from kafka.errors import KafkaError

        confirmed_at = time.monotonic()
        while index < total and not self.stop.is_set():
            records = self.encoder.records(index, min(index + chunk, total))
            try:
                index += self.send(records)
            except KafkaError as exc:  # send blocked past max_block_ms: the broker is away
                raise self._failure(describe_error(exc)) from exc
            progress(index, total)
            if time.monotonic() - confirmed_at >= every_s:
                self.confirm(index)
                confirmed_at = time.monotonic()
        self.confirm(index)
        return index


def replay_key(
    source: ReplaySource, kafka: KafkaConfig, config: ReplayConfig, options: ReplayOptions
) -> ReplayKey:
    """What identifies this replay's checkpoint."""
    return ReplayKey(
        input_sha256=source.sha256,
        start=options.start,
        limit=options.limit,
        watermark_every=config.watermark_every,
        sequence_version=SEQUENCE_VERSION,
        bootstrap_servers=kafka.bootstrap_servers,
        transactions_topic=kafka.topics.transactions,
        labels_topic=kafka.topics.labels,
    )


def _starting_index(
    key: ReplayKey, config: ReplayConfig, options: ReplayOptions, total: int
) -> int:
    if not options.resume:
        return 0
    checkpoint = load_checkpoint(config.checkpoint_dir, key, total)
    return 0 if checkpoint is None else checkpoint.next_index


def replay(
    source: ReplaySource,
    kafka: KafkaConfig,
    config: ReplayConfig,
    options: ReplayOptions,
    *,
    progress: ReplayProgress | None = None,
    stop: threading.Event | None = None,
    chunk_records: int = 5_000,
    checkpoint_seconds: float = 1.0,
) -> ReplaySummary:
    """Send ``source`` to the broker as one event-time sequence; resume from its checkpoint.

    Args:
        source: The validated transactions.
        kafka: The broker and topics (created here when missing).
        config: Producer settings and the checkpoint folder.
        options: Speed, rate cap, start, limit, resume.
        progress: Called with ``(next index, total)`` after each stretch of records.
        stop: Set it (e.g. from a signal handler) to end cleanly: flush, checkpoint, return.
        chunk_records: Records encoded and handed to the producer at a time.
        checkpoint_seconds: Confirm and checkpoint at least this often.

    Raises:
        ConfigError: nothing is at or after ``options.start``.
        ServiceError: the broker is unreachable, a topic has too few partitions, or records were
            refused after every retry.
        PipelineStateError: the checkpoint is unreadable or belongs to another sequence.
    """
    began = time.perf_counter()
    stop = stop or threading.Event()
    try:
        sequence = build_sequence(
            source.frame,
            start=options.start,
            limit=options.limit,
            watermark_every=config.watermark_every,
        )
    except EmptySequenceError as exc:
        msg = f"nothing to replay from {source.path}: {exc}; choose an earlier --from"
        raise ConfigError(msg) from exc
    key = replay_key(source, kafka, config, options)
    total = len(sequence)
    first = _starting_index(key, config, options, total)
    path = checkpoint_path(config.checkpoint_dir, key)

    def summary(next_index: int, *, already: bool = False) -> ReplaySummary:
        return ReplaySummary(
            transactions=sequence.count(TRANSACTION, first, next_index),
            labels=sequence.count(LABEL, first, next_index),
            watermarks=sequence.count(WATERMARK, first, next_index),
            seconds=time.perf_counter() - began,
            resumed_from=first,
            next_index=next_index,
            total=total,
            interrupted=next_index < total,
            already_finished=already,
            checkpoint=path,
        )

    if first >= total:
        return summary(first, already=True)
    create_topics(kafka)
    encoder = _Encoder(source.frame, sequence, kafka)
    encoder.route(list_topics(kafka)[kafka.topics.transactions])
    if first:
        logger.info("resuming the replay at record %d of %d (%s)", first, total, path)

    def save(next_index: int) -> None:
        save_checkpoint(config.checkpoint_dir, key, source.path, next_index, total)

    producer = _producer(kafka, config)
    try:
        run = _Run(producer, encoder, Pacer(options.speed, options.rate, stop), stop, save)
        with _fewer_collections():
            index = run.run(
                first, total, chunk_records, checkpoint_seconds, progress or _no_progress
            )
    finally:
        producer.close(timeout=5)
    return summary(index)


def _no_progress(done: int, total: int) -> None:
    return None


__all__ = [
    "ReplayOptions",
    "ReplayProgress",
    "ReplaySource",
    "ReplaySummary",
    "replay",
    "replay_key",
]
