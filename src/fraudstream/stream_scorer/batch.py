"""One micro-batch of the stream, framework-free: validate, wait for labels, enrich, score.

The Faust agent (:mod:`fraudstream.stream_scorer.app`) hands each batch of raw records here and
publishes what comes back; the benchmark and the tests call it directly. For a batch:

1. every record is validated against the wire model; a bad one becomes a dead letter (the reason,
   its raw bytes) and the others go on;
2. the batch waits (bounded) until the labels watermark has passed its latest event time, so
   "labels known by t" never depends on which topic arrived first;
3. the online store enriches the whole batch in one Redis round trip, recording each event once
   (a re-delivered event is recomputed from the same state and changes nothing);
4. the champion scores the batch in one vectorised call; alerts get their exact top reasons.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from pydantic import ValidationError

from fraudstream.errors import first_problem
from fraudstream.feature_store import definition_version
from fraudstream.feature_store.online.enriched import Enriched
from fraudstream.feature_store.online.store import OnlineFeatureStore
from fraudstream.training.explain import contributions, top_reasons
from fraudstream.training.model_loading import LoadedModel
from fraudstream.transactions.event import (
    AlertEvent,
    DeadLetter,
    ScoreEvent,
    TransactionEvent,
)

#: Status of an event whose id was seen before with other content (see the online store).
CONFLICT = "conflict"
_WATERMARK_POLL_SECONDS = 0.005


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A record as it came off the broker."""

    value: bytes | None
    topic: str
    partition: int
    offset: int
    #: The record's timestamp (seconds since the epoch), set when it was produced.
    timestamp: float | None = None


@dataclass(frozen=True, slots=True)
class Accepted:
    """A record that validated, with its event."""

    record: RawRecord
    event: TransactionEvent


@dataclass
class BatchResult:
    """What one batch produced, ready to publish."""

    scores: list[ScoreEvent] = field(default_factory=list)
    alerts: list[AlertEvent] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    waited_events: int = 0
    wait_ms: float = 0.0
    model_version: int | None = None


#: Raw bytes kept in a dead letter: base64 grows them by a third, and a letter must stay under
#: the broker's message size (the whole record stays in its topic at partition/offset).
DEAD_LETTER_RAW_LIMIT = 65_536


def dead_letter(record: RawRecord, reason: str) -> DeadLetter:
    """The dead letter of ``record``: the reason, where it was, its raw bytes (at most 64 KiB)."""
    raw = record.value or b""
    kept = raw[:DEAD_LETTER_RAW_LIMIT]
    return DeadLetter(
        reason=reason,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        raw_base64=base64.b64encode(kept).decode("ascii"),
        raw_bytes=len(raw),
        raw_truncated=len(kept) < len(raw),
        failed_at=datetime.now(UTC),
    )


def validate_record(record: RawRecord, max_bytes: int) -> TransactionEvent | str:
    """The event of ``record``, or why it is not one (a short reason for a person)."""
    raw = record.value
    if not raw:
        return "empty record: a transaction event is a JSON object"
    if len(raw) > max_bytes:
        return f"record of {len(raw)} bytes exceeds the limit of {max_bytes} bytes"
    try:
        return TransactionEvent.model_validate_json(raw)
    except ValidationError as exc:
        return f"invalid transaction event: {first_problem(exc)}"


def accept(records: Sequence[RawRecord], max_bytes: int) -> tuple[list[Accepted], list[DeadLetter]]:
    """Split a batch into valid events and dead letters."""
    accepted: list[Accepted] = []
    dead: list[DeadLetter] = []
    for record in records:
        outcome = validate_record(record, max_bytes)
        if isinstance(outcome, str):
            dead.append(dead_letter(record, outcome))
        else:
            accepted.append(Accepted(record, outcome))
    return accepted, dead


def _columns(available: tuple[str, ...], wanted: tuple[str, ...]) -> list[int]:
    """Positions of the model's features among the store's.

    Raises:
        ValueError: The store does not compute one of them.
    """
    position = {name: i for i, name in enumerate(available)}
    missing = [name for name in wanted if name not in position]
    if missing:
        msg = f"cannot score: the online store computes no {', '.join(missing)}"
        raise ValueError(msg)
    return [position[name] for name in wanted]


def _epoch(moment: datetime) -> float:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.timestamp()


@dataclass
class BatchScorer:
    """Validates, enriches and scores batches with the current champion.

    Attributes:
        store: The online feature store (Redis).
        model: Returns the model for the next batch (read once per batch).
        max_event_bytes: Larger records go to the dead-letter topic.
        label_wait_max_seconds: Longest wait for the labels watermark.
        top_reasons: Reasons attached to an alert.
        clock: Wall-clock seconds (for latency).
    """

    store: OnlineFeatureStore
    model: Callable[[], LoadedModel]
    max_event_bytes: int = 65_536
    label_wait_max_seconds: float = 2.0
    top_reasons: int = 3
    clock: Callable[[], float] = time.time
    definition: str = field(default_factory=definition_version)

    def labels_missing(self, accepted: Sequence[Accepted]) -> bool:
        """Whether the labels watermark is behind the batch's latest event time."""
        if not accepted:
            return False
        latest = max(item.event.tx_datetime for item in accepted)
        watermark = self.store.watermark()
        return watermark is None or _epoch(watermark) < _epoch(latest)

    async def wait_for_labels(self, accepted: Sequence[Accepted]) -> float:
        """Wait until the watermark passes the batch (at most the bound); seconds waited."""
        if self.label_wait_max_seconds <= 0 or not self.labels_missing(accepted):
            return 0.0
        start = time.monotonic()
        deadline = start + self.label_wait_max_seconds
        while time.monotonic() < deadline and self.labels_missing(accepted):
            await asyncio.sleep(_WATERMARK_POLL_SECONDS)
        return time.monotonic() - start

    def score(self, accepted: Sequence[Accepted], waited_seconds: float = 0.0) -> BatchResult:
        """Enrich and score the valid events of a batch (one Redis round trip, one model call)."""
        return self.finish(accepted, self.enrich(accepted), waited_seconds)

    def enrich(self, accepted: Sequence[Accepted]) -> Enriched | None:
        """Record the valid events of a batch and compute their features (Redis; in order)."""
        if not accepted:
            return None
        return self.store.enrich([item.event for item in accepted])

    def finish(
        self, accepted: Sequence[Accepted], enriched: Enriched | None, waited_seconds: float = 0.0
    ) -> BatchResult:
        """Score enriched events with the current champion (one model call) into their outputs.

        No Redis: a batch is finished while the next one is enriched.
        """
        result = BatchResult()
        if not accepted or enriched is None:
            return result
        model = self.model()
        result.model_version = model.version
        statuses = list(enriched.status)
        result.statuses.update(statuses)
        keep = [i for i, status in enumerate(statuses) if status != CONFLICT]
        for i in (i for i, status in enumerate(statuses) if status == CONFLICT):
            reason = (
                f"duplicate TRANSACTION_ID {accepted[i].event.transaction_id} with other "
                "content than the event already recorded (a re-delivery would be identical)"
            )
            result.dead_letters.append(dead_letter(accepted[i].record, reason))
        if not keep:
            return result
        names = model.metadata.feature_names
        values = enriched.features[np.asarray(keep)][:, _columns(enriched.feature_names, names)]
        probabilities = model.predict_proba_values(values)
        alerts = np.flatnonzero(probabilities >= model.threshold)
        explained = contributions(model.estimator, values[alerts]) if alerts.size else None
        wait_ms = waited_seconds * 1000.0
        if waited_seconds > 0:
            result.waited_events = len(keep)
            result.wait_ms = wait_ms
        now = self.clock()
        scored_at = datetime.fromtimestamp(now, UTC)
        alert_rows = {int(row): n for n, row in enumerate(alerts)}
        for position, index in enumerate(keep):
            item = accepted[index]
            produced = item.record.timestamp
            score = self._score_event(
                item.event,
                model,
                float(probabilities[position]),
                (now - produced) * 1000.0 if produced else 0.0,
                scored_at,
                wait_ms,
            )
            result.scores.append(score)
            if position in alert_rows and explained is not None:
                reasons = top_reasons(
                    names,
                    values[position],
                    explained[alert_rows[position]],
                    self.top_reasons,
                )
                result.alerts.append(AlertEvent(**score.model_dump(), reasons=reasons))
        return result

    def _score_event(
        self,
        event: TransactionEvent,
        model: LoadedModel,
        probability: float,
        processing_ms: float,
        scored_at: datetime,
        wait_ms: float,
    ) -> ScoreEvent:
        return ScoreEvent(
            transaction_id=event.transaction_id,
            customer_id=event.customer_id,
            terminal_id=event.terminal_id,
            tx_datetime=event.tx_datetime,
            tx_amount=event.tx_amount,
            fraud_probability=probability,
            is_alert=probability >= model.threshold,
            threshold=model.threshold,
            model_version=model.version,
            model_sha256=model.model_sha256,
            feature_definition=self.definition,
            processing_ms=processing_ms,
            scored_at=scored_at,
            label_wait_ms=wait_ms,
        )


__all__ = [
    "Accepted",
    "BatchResult",
    "BatchScorer",
    "RawRecord",
    "accept",
    "dead_letter",
    "validate_record",
]
