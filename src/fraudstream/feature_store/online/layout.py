"""Where the online state lives in Redis, and how times are written there.

Every key starts with ``{prefix}:{definition version}:``, so two feature definitions never share
state. Per entity (``c`` for a card, ``t`` for a terminal) and id:

- ``…:c:{id}:tx``: hash ``TRANSACTION_ID`` → ``"time_us,amount"``;
- ``…:c:{id}:lb``: hash ``TRANSACTION_ID`` → ``"tx_time_us,fraud,label_time_us"``;
- ``…:c:{id}:pp``: the pruning point: entries older than it may have been deleted;

``…:labels:watermark``: every label known at or before it has been applied; and
``…:progress:{topic}``: per partition, the latest event time scored (for event-time alignment). Times are integer
epoch microseconds; naive datetimes are UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from fraudstream.feature_store.vocabulary import Entity
from fraudstream.transactions.event import LabelEvent, TransactionEvent

#: The letter of each entity in the keys.
ENTITY_LETTERS: Final = {Entity.CUSTOMER: "c", Entity.TERMINAL: "t"}
#: Naive datetimes are UTC by the project's convention.
_EPOCH: Final = datetime(1970, 1, 1)
_MICROSECOND: Final = timedelta(microseconds=1)


def to_microseconds(moment: datetime) -> int:
    """Epoch microseconds of ``moment`` (a naive datetime is UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return (moment - _EPOCH) // _MICROSECOND


def from_microseconds(microseconds: int) -> datetime:
    """The naive UTC datetime of epoch ``microseconds``."""
    return _EPOCH + timedelta(microseconds=microseconds)


def transaction_entry(event: TransactionEvent) -> str:
    """``"time_us,amount"``: the script writes the same text (its idempotency check compares)."""
    return f"{to_microseconds(event.tx_datetime)},{float(event.tx_amount)!r}"


def label_entry(label: LabelEvent) -> str:
    """``"tx_time_us,fraud,label_time_us"``."""
    return (
        f"{to_microseconds(label.tx_datetime)},{int(label.tx_fraud)},"
        f"{to_microseconds(label.tx_label_datetime)}"
    )


@dataclass(frozen=True, slots=True)
class KeyLayout:
    """The key names of one store (one prefix, one definition version)."""

    prefix: str
    version: str

    @property
    def base(self) -> str:
        """``{prefix}:{version}:``, the start of every key of the store."""
        return f"{self.prefix}:{self.version}:"

    @property
    def pattern(self) -> str:
        """A ``SCAN MATCH`` pattern of every key of the store."""
        return f"{self.base}*"

    @property
    def watermark(self) -> str:
        """The labels watermark."""
        return f"{self.base}labels:watermark"

    def progress(self, topic: str) -> str:
        """Per partition of ``topic``: the latest event time scored (a hash, microseconds)."""
        return f"{self.base}progress:{topic}"

    def entity_base(self, entity: Entity) -> str:
        """``{base}{letter}:``: the start of the entity's keys (append ``{id}:tx`` or ``:lb``)."""
        return f"{self.base}{ENTITY_LETTERS[entity]}:"

    def transactions(self, entity: Entity, entity_id: int) -> str:
        """The hash of the entity's transactions."""
        return f"{self.entity_base(entity)}{entity_id}:tx"

    def labels(self, entity: Entity, entity_id: int) -> str:
        """The hash of the labels of the entity's transactions."""
        return f"{self.entity_base(entity)}{entity_id}:lb"

    def pruning_point(self, entity: Entity, entity_id: int) -> str:
        """Where the entity's history was last pruned (epoch microseconds)."""
        return f"{self.entity_base(entity)}{entity_id}:pp"

    def is_entity_key(self, key: str) -> bool:
        """Whether ``key`` (of this store) holds an entity's state."""
        return key.endswith((":tx", ":lb", ":pp")) and key.startswith(self.base)


__all__ = [
    "ENTITY_LETTERS",
    "KeyLayout",
    "from_microseconds",
    "label_entry",
    "to_microseconds",
    "transaction_entry",
]
