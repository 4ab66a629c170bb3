"""What :meth:`OnlineFeatureStore.enrich` returns: one feature vector and one status per event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

EnrichStatus = Literal["new", "replayed", "conflict", "incomplete"]

#: ``new``: first delivery, recorded. ``replayed``: already recorded with the same content (a
#: re-delivery): the same vector, nothing changed. ``conflict``: the id is recorded with other
#: content: nothing changed, the vector is NaN. ``incomplete``: the event reads history older
#: than what the store kept (a very late re-delivery): the vector may miss some of it.
STATUSES: Final[tuple[EnrichStatus, ...]] = ("new", "replayed", "conflict", "incomplete")
_BY_BYTES: Final[dict[bytes, EnrichStatus]] = {s.encode(): s for s in STATUSES}


@dataclass(frozen=True, slots=True, eq=False)
class Enriched:
    """The features of a batch of events, in the batch's order.

    Attributes:
        transaction_ids: ``TRANSACTION_ID`` of each event.
        features: float64 array (events x features), columns in declaration order; NaN rows
            for conflicts.
        status: One of :data:`STATUSES` per event.
        feature_names: The column names (the declaration's order).
    """

    transaction_ids: tuple[int, ...]
    features: npt.NDArray[np.float64]
    status: tuple[EnrichStatus, ...]
    feature_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.status)

    def to_frame(self) -> pd.DataFrame:
        """The features as a DataFrame: one column per feature name, one row per event."""
        return pd.DataFrame(self.features, columns=list(self.feature_names), copy=False)


def decode_replies(
    transaction_ids: Sequence[int], replies: Sequence[bytes | str], names: tuple[str, ...]
) -> Enriched:
    """Turn the script's replies into an :class:`Enriched`.

    A reply is ``b"status,"`` and the features as little-endian doubles, or ``b"conflict"``.

    Raises:
        ValueError: A reply is not of that shape (a script of another definition answered).
    """
    features = np.full((len(replies), len(names)), np.nan, dtype=np.float64)
    status: list[EnrichStatus] = []
    rows: list[int] = []
    vectors: list[bytes] = []
    width = 8 * len(names)
    for row, reply in enumerate(replies):
        raw = reply.encode() if isinstance(reply, str) else reply
        head, _, values = raw.partition(b",")
        status.append(_BY_BYTES[head])
        if values:
            if len(values) != width:
                msg = (
                    f"the store script returned {len(values)} bytes of features for "
                    f"{len(names)} features: a script of another definition?"
                )
                raise ValueError(msg)
            rows.append(row)
            vectors.append(values)
    if rows:
        parsed = np.frombuffer(b"".join(vectors), dtype="<f8")
        features[rows] = parsed.reshape(len(rows), len(names))
    return Enriched(tuple(transaction_ids), features, tuple(status), names)


__all__ = ["STATUSES", "EnrichStatus", "Enriched", "decode_replies"]
