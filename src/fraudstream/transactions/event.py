"""The events on the wire: a transaction to score and, later, its label.

JSON on the wire uses the handbook's upper-case column names (``TRANSACTION_ID``,
``TX_AMOUNT``…), the same as the files; Python code reads snake-case attributes
(``event.transaction_id``). The producer, the stream scorer and the API all use these models, so
the wire format is declared here and nowhere else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

#: Kafka header on a record of the labels topic: every label known at or before this time (ISO
#: 8601) has been sent before this record. The replay producer puts it on every label (it reads
#: ahead: "until the next label's time") and sends a :class:`LabelWatermark` record where labels
#: leave a gap.
WATERMARK_HEADER = "labels-known-through"

#: Whole numbers only: ``"17"`` or ``17.0`` on the wire is an error, not a silent conversion.
NonNegativeId = Annotated[int, Field(ge=0, strict=True)]
#: Numbers only (not text), finite, not negative.
Amount = Annotated[float, Field(ge=0.0, strict=True, allow_inf_nan=False)]


class _WireModel(BaseModel):
    """Upper-case names on the wire, snake-case in Python; unknown fields are errors."""

    model_config = ConfigDict(
        alias_generator=str.upper,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        ser_json_timedelta="iso8601",
    )

    def to_json(self) -> bytes:
        """Serialise with the wire names."""
        return self.model_dump_json(by_alias=True).encode()


class TransactionEvent(_WireModel):
    """A card payment to score. It carries no label: labels arrive later, on their own stream."""

    transaction_id: NonNegativeId
    tx_datetime: datetime
    customer_id: NonNegativeId
    terminal_id: NonNegativeId
    tx_amount: Amount
    tx_time_seconds: NonNegativeId
    tx_time_days: NonNegativeId


class LabelEvent(_WireModel):
    """What became known about a transaction, and when it became known."""

    transaction_id: NonNegativeId
    customer_id: NonNegativeId
    terminal_id: NonNegativeId
    tx_datetime: datetime
    tx_fraud: Literal[0, 1]
    tx_fraud_scenario: Annotated[int, Field(ge=0, le=4, strict=True)]
    tx_label_datetime: datetime


class LabelWatermark(_WireModel):
    """The label source's promise on the labels topic.

    Every label known at or before ``labels_known_through`` has been sent before this record.

    The scorer lets a transaction at ``t`` wait (bounded) until the watermark reaches ``t``, so
    "labels known by ``t``" does not depend on which topic or partition arrived first.
    """

    labels_known_through: datetime


class Reason(_WireModel):
    """One feature's exact contribution to a score (log-odds), with the feature's value."""

    feature: str
    value: float
    contribution: float


class ScoreEvent(_WireModel):
    """The score of one transaction, published once per transaction (de-duplicate by id).

    A re-delivered transaction (after a crash or a rebalance) is scored again from the same
    state and gives the same event, apart from ``processing_ms`` and ``scored_at``.
    """

    transaction_id: int
    customer_id: int
    terminal_id: int
    tx_datetime: datetime
    tx_amount: float
    fraud_probability: float
    is_alert: bool
    threshold: float
    model_version: int | None
    model_sha256: str
    feature_definition: str
    #: Time from the transaction's arrival at the broker (its record timestamp) to scoring.
    processing_ms: float
    scored_at: datetime
    #: Seconds the transaction waited for the labels watermark (0 when it did not wait).
    label_wait_ms: float = 0.0


class AlertEvent(ScoreEvent):
    """A score at or above the threshold, with its largest exact contributions."""

    reasons: list[Reason]


class DeadLetter(_WireModel):
    """An event the scorer could not accept: why, where it came from, and its raw bytes."""

    reason: str
    topic: str
    partition: int
    offset: int
    #: The raw bytes, base64 (they may not be text).
    raw_base64: str
    raw_bytes: int
    #: Whether ``raw_base64`` holds only the first 64 KiB (the record is larger).
    raw_truncated: bool = False
    failed_at: datetime


__all__ = [
    "WATERMARK_HEADER",
    "AlertEvent",
    "DeadLetter",
    "LabelEvent",
    "LabelWatermark",
    "Reason",
    "ScoreEvent",
    "TransactionEvent",
]
