"""The labels topic: labels to record, and the watermarks that say which labels are complete.

A record is a :class:`~fraudstream.transactions.event.LabelEvent` (its ``WATERMARK_HEADER``
header, when present, promises every label known at or before that time was sent before it) or
a :class:`~fraudstream.transactions.event.LabelWatermark` alone. Labels are recorded before the
watermark advances, so a transaction let through by the watermark sees every label it should.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import ValidationError

from fraudstream.errors import first_problem
from fraudstream.transactions.event import WATERMARK_HEADER, LabelEvent, LabelWatermark


@dataclass
class LabelBatch:
    """What a batch of label records holds."""

    labels: list[LabelEvent] = field(default_factory=list)
    watermark: datetime | None = None
    rejected: list[str] = field(default_factory=list)

    def advance(self, moment: datetime) -> None:
        """Keep the latest watermark seen (a time without a zone is UTC)."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if self.watermark is None or moment > self.watermark:
            self.watermark = moment


def _header_watermark(
    headers: Mapping[str, bytes] | Sequence[tuple[str, bytes]] | None,
) -> str | None:
    if not headers:
        return None
    items = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in items:
        if name == WATERMARK_HEADER and value:
            return value.decode("utf-8", errors="replace")
    return None


def read_label_records(
    records: Sequence[
        tuple[bytes | None, Mapping[str, bytes] | Sequence[tuple[str, bytes]] | None]
    ],
) -> LabelBatch:
    """Parse ``(value, headers)`` pairs of the labels topic, in order."""
    batch = LabelBatch()
    for value, headers in records:
        if not value:
            batch.rejected.append("empty label record")
            continue
        if b'"LABELS_KNOWN_THROUGH"' in value:
            try:
                batch.advance(LabelWatermark.model_validate_json(value).labels_known_through)
            except ValidationError as exc:
                batch.rejected.append(f"invalid watermark: {first_problem(exc)}")
            continue
        try:
            batch.labels.append(LabelEvent.model_validate_json(value))
        except ValidationError as exc:
            batch.rejected.append(f"invalid label: {first_problem(exc)}")
            continue
        header = _header_watermark(headers)
        if header is not None:
            try:
                batch.advance(datetime.fromisoformat(header))
            except ValueError:
                batch.rejected.append(f"invalid {WATERMARK_HEADER} header {header[:40]!r}")
    return batch


__all__ = ["LabelBatch", "read_label_records"]
