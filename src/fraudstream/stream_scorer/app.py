"""The Faust app: an agent on the transactions topic, a labels consumer, a registry timer.

Delivery: at-least-once. A batch's records are acknowledged (and so may be committed) only after
every output of the batch (scores, alerts, dead letters) has been acknowledged by the broker
(``acks=all``); the next batches are scored meanwhile (a few at most), so the broker's round trip
is off the scoring path. A crash or a rebalance
re-delivers what was not committed; the online store recognises a re-delivered event by its
``TRANSACTION_ID`` and recomputes the same features without counting it twice, and consumers
de-duplicate score events by ``TRANSACTION_ID``. Kafka transactions are not used (some
Kafka-protocol brokers, Tansu among them, do not support them correctly).

Broker-neutral tuning: the consumer's fetch wait (Faust hard-codes 1,500 ms; a broker that does
not wake a waiting fetch adds about half of it to every hop) and a short session timeout (a group
join in seconds rather than half a minute). No Faust tables: all state is in Redis.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust
import redis
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.services import WaitResults

from fraudstream.config import FraudstreamConfig
from fraudstream.errors import ServiceError
from fraudstream.feature_store.online.enriched import Enriched
from fraudstream.feature_store.online.store import OnlineFeatureStore
from fraudstream.stream_scorer.alignment import Aligner, event_microseconds
from fraudstream.stream_scorer.batch import (
    Accepted,
    BatchResult,
    BatchScorer,
    RawRecord,
    dead_letter,
    validate_record,
)
from fraudstream.stream_scorer.champion import ChampionHolder
from fraudstream.stream_scorer.labels import read_label_records

logger = logging.getLogger(__name__)

#: Where Faust keeps its (unused) local data: run state, git-ignored.
DEFAULT_DATADIR = Path(".run/faust")
_STATS_EVERY_SECONDS = 10.0
#: The labels consumer commits at most this often (a commit per small batch loads the broker).
_LABELS_COMMIT_EVERY_SECONDS = 1.0


def _consumer_thread_class(fetch_max_wait_ms: int, fetch_max_bytes: int) -> type[Any]:
    class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            # aiokafka builds its fetcher from these at start(); Faust passes 1,500 ms and
            # leaves the total at aiokafka's 50 MB (see StreamConfig.fetch_max_bytes).
            consumer._fetch_max_wait_ms = fetch_max_wait_ms
            consumer._fetch_max_bytes = fetch_max_bytes
            return consumer

    return _ConsumerThread


def _delivery_cannot_block(consumer: Any, coros: tuple[Any, ...]) -> bool:
    """Whether delivering cannot wait: Faust's (deliver, suspend_flow.wait), flow on, room.

    The delivery loop's pair of coroutines, the flow running and no subscribed stream's buffer
    full: then delivering a record completes without suspending.
    """
    if len(coros) != 2 or not all(inspect.iscoroutine(c) for c in coros):
        return False
    if coros[1].__qualname__ != "Event.wait" or consumer.suspend_flow.is_set():
        return False
    app = consumer.app
    if not app.flow_control.is_active():
        return False
    return not any(
        channel.queue.full() for channels in app.topics._tp_index.values() for channel in channels
    )


def _transport_class(fetch_max_wait_ms: int, fetch_max_bytes: int) -> type[Any]:
    thread_class = _consumer_thread_class(fetch_max_wait_ms, fetch_max_bytes)

    class _Consumer(faust_aiokafka.Consumer):
        def _new_consumer_thread(self) -> Any:
            return thread_class(self, loop=self.loop, beacon=self.beacon)

        def on_buffer_full(self, tp: Any) -> None:
            """Keep fetching every partition when the agent's buffer is under pressure.

            Faust stops fetching only the partition whose record crossed the shared buffer's
            pressure mark and lets the others run ahead (one source of the partition skew that
            alignment then waits out). Without this, a full buffer blocks delivery itself,
            which stops all partitions alike.
            """

        def on_buffer_drop(self, tp: Any) -> None:
            """Nothing to resume: see ``on_buffer_full``."""

        async def wait_first(self, *coros: Any, timeout: Any = None) -> Any:
            """Deliver a record without racing it against a rebalance when it cannot block.

            Faust's delivery loop calls ``wait_first(deliver(record), suspend_flow.wait())``
            for every record: four tasks and an ``asyncio.wait`` each (measured: the largest
            part of Faust's per-record cost here). While the flow runs and no stream buffer is
            full, delivering cannot block, so it is awaited directly; otherwise Faust's race
            decides as before.
            """
            if _delivery_cannot_block(self, coros):
                deliver, suspended = coros
                suspended.close()
                return WaitResults([deliver], [await deliver], False)
            return await super().wait_first(*coros, timeout=timeout)

    class _Transport(faust_aiokafka.Transport):
        Consumer = _Consumer

    return _Transport


class ScorerApp(faust.App):
    """A Faust app whose consumer uses the configured fetch wait and fetch size."""

    fetch_max_wait_ms: int = 50
    fetch_max_bytes: int = 1_048_576

    def _new_transport(self) -> Any:
        transport_class = _transport_class(self.fetch_max_wait_ms, self.fetch_max_bytes)
        return transport_class(self.conf.broker_consumer, self, loop=self.loop)


@dataclass
class WorkerStats:
    """Running totals of one worker (logged every few seconds)."""

    batches: int = 0
    scored: int = 0
    alerts: int = 0
    dead_letters: int = 0
    replayed: int = 0
    incomplete: int = 0
    waited_events: int = 0
    wait_ms_total: float = 0.0
    wait_ms_max: float = 0.0
    labels: int = 0
    label_rejects: int = 0
    retries: int = 0
    #: Most records held back at once for alignment; released after the bound anyway.
    held_max: int = 0
    misaligned: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    def add(self, result: BatchResult) -> None:
        """Count one scored batch."""
        self.batches += 1
        self.scored += len(result.scores)
        self.alerts += len(result.alerts)
        self.dead_letters += len(result.dead_letters)
        for status, count in result.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count
        self.replayed = self.statuses.get("replayed", 0)
        self.incomplete = self.statuses.get("incomplete", 0)
        if result.waited_events:
            self.waited_events += result.waited_events
            self.wait_ms_total += result.wait_ms * result.waited_events
            self.wait_ms_max = max(self.wait_ms_max, result.wait_ms)


@dataclass
class Worker:
    """What the agents share: the app, the topics, the scorer and the model holder."""

    app: ScorerApp
    config: FraudstreamConfig
    scorer: BatchScorer
    holder: ChampionHolder
    store: OnlineFeatureStore
    aligner: Aligner
    stats: WorkerStats = field(default_factory=WorkerStats)
    #: The agent's stream (set when it starts): held records are acknowledged through it.
    stream: Any = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Batches enriched whose scoring, outputs or broker acknowledgement are not done (in order).
    confirming: deque[asyncio.Future[None]] = field(default_factory=deque)

    async def publish(self, result: BatchResult) -> None:
        """Send every output of a batch and wait until the broker has them all."""
        pending = await self.send(result)
        if pending:
            await asyncio.gather(*pending)

    async def send(self, result: BatchResult) -> list[Awaitable[Any]]:
        """Hand every output of a batch to the producer; the broker's acknowledgements.

        Outputs go in record batches, one per partition (the client's key partitioner, as a
        keyed send would choose): a per-message send costs more than scoring the event.
        """
        topics = self.config.kafka.topics
        messages: dict[str, list[tuple[bytes | None, bytes]]] = {
            topics.scores: [(str(s.transaction_id).encode(), s.to_json()) for s in result.scores],
            topics.alerts: [(str(a.transaction_id).encode(), a.to_json()) for a in result.alerts],
            topics.dlq: [(None, letter.to_json()) for letter in result.dead_letters],
        }
        pending: list[Awaitable[Any]] = []
        for topic, keyed in messages.items():
            if keyed:
                pending += await _send_batches(self.app.producer, topic, keyed)
        return pending

    def hold(self, events: Sequence[Any]) -> None:
        """Validate arriving records and hold them until their partitions are aligned."""
        items: list[tuple[Any, int, int | None]] = []
        for event in events:
            record = _record(event)
            outcome = validate_record(record, self.scorer.max_event_bytes)
            if isinstance(outcome, str):
                items.append(((event, record, outcome), record.partition, None))
            else:
                item = (event, record, Accepted(record, outcome))
                items.append((item, record.partition, event_microseconds(outcome.tx_datetime)))
        self.aligner.hold(items)
        self.stats.held_max = max(self.stats.held_max, len(self.aligner.held))

    async def release(self) -> None:
        """Score and publish what alignment allows, then acknowledge it (once, in order)."""
        async with self.lock:
            if not self.aligner.held:
                return
            progress: dict[int, int] = {}
            if self.aligner.delay_us is not None:
                topic = self.config.kafka.topics.transactions

                async def read_progress() -> None:
                    progress.update(await asyncio.to_thread(self.store.progress, topic))

                await _until_done(self, "alignment", read_progress)
            ready = self.aligner.release(progress)
            if not ready:
                return
            items = [h.item for h in ready]
            enriched: list[tuple[Enriched | None, float]] = []

            async def enrich() -> None:
                enriched[:] = [await self.enrich_ready(items)]

            await _until_done(self, "scoring", enrich)
            self.stats.misaligned = self.aligner.misaligned
            # The model, the outputs and the broker's acknowledgement of this batch proceed
            # while the next batch is enriched; a few batches at most are unfinished at a time.
            self.confirming.append(asyncio.ensure_future(self.finish(items, *enriched[0])))
            while self.confirming and (
                self.confirming[0].done() or len(self.confirming) > _UNCONFIRMED_BATCHES_MAX
            ):
                await self.confirming.popleft()

    async def enrich_ready(
        self, items: Sequence[tuple[Any, RawRecord, Any]]
    ) -> tuple[Enriched | None, float]:
        """Wait for labels, then record released records and compute their features (in order).

        Records each partition's progress (the latest event time now in Redis) for alignment.
        Returns the features and the seconds waited for the labels watermark.
        """
        accepted = [outcome for _, _, outcome in items if isinstance(outcome, Accepted)]
        latest: dict[int, int] = {}
        for item in accepted:
            t = event_microseconds(item.event.tx_datetime)
            latest[item.record.partition] = max(latest.get(item.record.partition, t), t)
        topic = self.config.kafka.topics.transactions
        scorer, store = self.scorer, self.store

        def record(check_labels: bool) -> tuple[bool, Enriched | None]:
            """(False, None) if the labels are not there yet; else (True, the features)."""
            # In a thread: Redis round trips release the GIL, so Faust keeps fetching and
            # delivering, and earlier batches are finished, meanwhile (none on the event loop).
            if (
                check_labels
                and scorer.label_wait_max_seconds > 0
                and scorer.labels_missing(accepted)
            ):
                return False, None
            enriched = scorer.enrich(accepted)
            store.advance_progress(topic, latest)
            return True, enriched

        done, enriched = await asyncio.to_thread(record, True)
        if done:
            return enriched, 0.0
        waited = await self.scorer.wait_for_labels(accepted)
        return (await asyncio.to_thread(record, False))[1], waited

    async def finish(
        self,
        items: Sequence[tuple[Any, RawRecord, Any]],
        enriched: Enriched | None,
        waited: float,
    ) -> None:
        """Score an enriched batch, send its outputs, then acknowledge its records.

        Records are acknowledged (and so may be committed) only once the broker has every
        output of their batch, sent again if need be.
        """
        accepted = [outcome for _, _, outcome in items if isinstance(outcome, Accepted)]
        done: list[tuple[BatchResult, list[Awaitable[Any]]]] = []

        async def score() -> None:
            # In a thread too: LightGBM releases the GIL while it predicts.
            result = await asyncio.to_thread(self.scorer.finish, accepted, enriched, waited)
            result.dead_letters[:0] = [
                dead_letter(record, outcome)
                for _, record, outcome in items
                if isinstance(outcome, str)
            ]
            done[:] = [(result, await self.send(result))]

        await _until_done(self, "scoring", score)
        ((result, pending),) = done
        self.stats.add(result)
        try:
            if pending:
                await asyncio.gather(*pending)
        except _TRANSIENT as exc:
            logger.warning("publishing: %s: %s; sending the batch again", type(exc).__name__, exc)

            async def again() -> None:
                await self.publish(result)

            await _until_done(self, "publishing", again)
        for event, _, _ in items:
            await self.stream.ack(event)

    def handle_labels(self, records: Sequence[tuple[bytes | None, Any]]) -> None:
        """Record a batch of labels, then advance the watermark."""
        batch = read_label_records(records)
        if batch.labels:
            self.stats.labels += self.store.apply_labels(batch.labels)
        if batch.watermark is not None:
            self.store.advance_watermark(batch.watermark)
        if batch.rejected:
            self.stats.label_rejects += len(batch.rejected)
            logger.warning(
                "labels: %d record(s) rejected, first: %s", len(batch.rejected), batch.rejected[0]
            )


#: Errors of a service that comes back (Redis restarting, the broker electing a leader): the
#: batch is retried until it succeeds; nothing is skipped.
_TRANSIENT: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    ServiceError,
    KafkaError,
    OSError,
)
_RETRY_MAX_SECONDS = 5.0
#: Largest record batch of outputs (a batch of 2,000 scores is about 700 kB).
_OUTPUT_BATCH_BYTES = 262_144
#: Batches whose outputs may await the broker's acknowledgement while the next ones are scored.
_UNCONFIRMED_BATCHES_MAX = 4


async def _until_done(worker: Worker, what: str, attempt: Callable[[], Awaitable[Any]]) -> None:
    """Run ``attempt`` until it succeeds, backing off on transient errors.

    Anything else is a bug: the worker stops (SIGTERM to itself, so Faust shuts down cleanly and
    commits only what was acknowledged); the batch is re-delivered to the group.
    """
    delay = 0.1
    while True:
        try:
            await attempt()
        except _TRANSIENT as exc:
            worker.stats.retries += 1
            logger.warning("%s: %s: %s; retrying in %.1f s", what, type(exc).__name__, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX_SECONDS)
        except Exception:
            logger.critical(
                "%s failed on an unexpected error; stopping this worker", what, exc_info=True
            )
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(3600)
        else:
            return


async def _send_batches(
    producer: Any, topic: str, messages: Sequence[tuple[bytes | None, bytes]]
) -> list[Awaitable[Any]]:
    """Send keyed messages as record batches, one partition at a time; their acknowledgements.

    A message too large for a batch of its own goes by itself through the producer's ``send``.
    Uses the aiokafka producer's partitioner and metadata wait (private API, pinned in the lock).
    """
    client = producer._ensure_producer()  # the aiokafka producer Faust started
    await client.client._wait_on_metadata(topic)
    by_partition: dict[int, list[tuple[bytes | None, bytes]]] = {}
    for key, value in messages:
        partition = client._partition(topic, None, key, value, key, value)
        by_partition.setdefault(partition, []).append((key, value))
    pending: list[Awaitable[Any]] = []
    for partition, items in by_partition.items():
        batch = client.create_batch()
        for key, value in items:
            if batch.append(key=key, value=value, timestamp=None) is not None:
                continue
            if batch.record_count():  # full: send it, start the next
                pending.append(await client.send_batch(batch, topic, partition=partition))
                batch = client.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:  # too large alone
                pending.append(await client.send(topic, value, key=key, partition=partition))
        if batch.record_count():
            pending.append(await client.send_batch(batch, topic, partition=partition))
    return pending


def _record(event: Any) -> RawRecord:
    message = event.message
    value = message.value
    return RawRecord(
        value=value if isinstance(value, bytes | None) else bytes(value),
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp=message.timestamp,
    )


def _labels_consumer(config: FraudstreamConfig) -> AIOKafkaConsumer:
    stream = config.stream
    return AIOKafkaConsumer(
        config.kafka.topics.labels,
        bootstrap_servers=config.kafka.servers(),
        client_id=f"{stream.app_id}-labels",
        group_id=f"{stream.app_id}-labels",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=stream.fetch_max_wait_ms,
        fetch_max_bytes=stream.fetch_max_bytes,
        session_timeout_ms=int(stream.session_timeout_seconds * 1000),
        heartbeat_interval_ms=int(stream.heartbeat_interval_seconds * 1000),
    )


async def follow_labels(worker: Worker) -> None:
    """Record the labels topic in Redis, then commit: a consumer of its own, outside Faust.

    Faust delivers every subscribed partition through one loop that blocks when an agent's
    buffer is full, so a transactions agent waiting for the labels watermark would stop the very
    labels it waits for (measured: no label read for 40 s, every batch waiting the full bound).
    This consumer (its own group, ``{app_id}-labels``) keeps the watermark moving whatever the
    transactions agent does. At-least-once: offsets are committed after the labels are applied;
    applying a label twice changes nothing.
    """
    consumer = _labels_consumer(worker.config)
    await _until_done(worker, "labels consumer start", consumer.start)
    committed_at = 0.0
    try:
        while True:
            polled = await consumer.getmany(
                timeout_ms=1_000, max_records=worker.config.stream.batch_size * 10
            )
            records = [
                (record.value, record.headers) for batch in polled.values() for record in batch
            ]
            if not records:
                continue

            async def handle(batch: list[tuple[bytes | None, Any]] = records) -> None:
                await asyncio.to_thread(worker.handle_labels, batch)

            await _until_done(worker, "labels", handle)
            if time.monotonic() - committed_at < _LABELS_COMMIT_EVERY_SECONDS:
                continue  # a restart re-reads at most this long's labels (applied again: no-op)
            try:
                await consumer.commit()
                committed_at = time.monotonic()
            except KafkaError as exc:  # a rebalance took the partition: its new owner re-reads
                logger.warning("labels: commit failed (%s); the labels will be read again", exc)
    finally:
        await consumer.stop()


def _add_agents(worker: Worker) -> None:
    """The agent scoring transactions in micro-batches, and the task recording labels."""
    app, stream, holder = worker.app, worker.config.stream, worker.holder
    topics = worker.config.kafka.topics
    transactions = app.topic(topics.transactions, key_type=bytes, value_type=bytes)

    @app.agent(transactions)
    async def score(stream_: Any) -> None:
        while holder.current is None:
            await asyncio.sleep(0.05)
        worker.stream = stream_
        # Records are acknowledged by Worker.finish once scored and published (some are held
        # back for alignment), so the stream does not acknowledge them itself.
        async for events in stream_.noack_take(
            stream.batch_size, within=stream.batch_within_seconds
        ):
            worker.hold(events)
            await worker.release()

    @app.timer(interval=0.1)  # type: ignore[untyped-decorator]
    async def release_held() -> None:
        # Held records are released once the slow partition catches up, even without new input.
        if worker.stream is not None and worker.aligner.held:
            await worker.release()

    @app.task  # type: ignore[untyped-decorator]
    async def record_labels() -> None:
        await follow_labels(worker)


def _add_timers(worker: Worker) -> None:
    """Follow the registry's champion; log the running totals."""
    app, stream, holder = worker.app, worker.config.stream, worker.holder

    @app.timer(interval=stream.model_refresh_seconds)  # type: ignore[untyped-decorator]
    async def follow_registry() -> None:
        if holder.current is not None:
            await asyncio.to_thread(holder.refresh)

    @app.timer(interval=_STATS_EVERY_SECONDS)  # type: ignore[untyped-decorator]
    async def log_stats() -> None:
        s = worker.stats
        logger.info(
            "worker: %d scored, %d alerts, %d dead letters, %d replayed, %d labels, "
            "%d waited for labels (max %.0f ms), %d held for alignment at most, %d misaligned, "
            "model version %s",
            s.scored,
            s.alerts,
            s.dead_letters,
            s.replayed,
            s.labels,
            s.waited_events,
            s.wait_ms_max,
            s.held_max,
            s.misaligned,
            holder.current.version if holder.current else None,
        )


def build_app(
    config: FraudstreamConfig,
    *,
    store: OnlineFeatureStore | None = None,
    holder: ChampionHolder | None = None,
    datadir: Path = DEFAULT_DATADIR,
) -> Worker:
    """Build the Faust app of one worker (not started)."""
    stream = config.stream
    app = ScorerApp(
        stream.app_id,
        broker=[f"kafka://{server}" for server in config.kafka.servers()],
        datadir=str(datadir),
        broker_session_timeout=stream.session_timeout_seconds,
        broker_heartbeat_interval=stream.heartbeat_interval_seconds,
        broker_request_timeout=max(30.0, stream.session_timeout_seconds * 2),
        broker_rebalance_timeout=max(20.0, stream.session_timeout_seconds * 2),
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_max_batch_size=_OUTPUT_BATCH_BYTES,
        topic_allow_declare=False,
        topic_partitions=config.kafka.partitions,
        web_enabled=stream.web_port > 0,
        web_port=stream.web_port or 6066,
        web_bind="127.0.0.1",
        stream_wait_empty=False,
        key_serializer="raw",
        value_serializer="raw",
    )
    app.fetch_max_wait_ms = stream.fetch_max_wait_ms
    app.fetch_max_bytes = stream.fetch_max_bytes
    store = store or OnlineFeatureStore.from_config(config.redis)
    holder = holder or ChampionHolder(config)
    scorer = BatchScorer(
        store=store,
        model=holder.model,
        max_event_bytes=stream.max_event_bytes,
        label_wait_max_seconds=stream.label_wait_max_seconds,
        top_reasons=stream.top_reasons,
    )
    aligner = Aligner.from_definition(stream.partition_wait_max_seconds)
    worker = Worker(app, config, scorer, holder, store, aligner)
    _add_agents(worker)
    _add_timers(worker)
    return worker


__all__ = ["DEFAULT_DATADIR", "ScorerApp", "Worker", "WorkerStats", "build_app"]
