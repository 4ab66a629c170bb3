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


__all__ = ["LabelEvent", "TransactionEvent"]
