"""Delayed-label quality: the stream's scores joined to the labels that arrive days later.

The same metrics as training (``training/metrics.py``: AP, AUC, card precision top-k per day,
precision and recall at the decision threshold), computed per model version on the scored
transactions whose labels are known. A re-delivered transaction has several identical score
events: the last one counts (de-duplication by ``TRANSACTION_ID``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from fraudstream.training.metrics import Evaluation, evaluate
from fraudstream.transactions.contract import CUSTOMER_ID, TRANSACTION_ID, TX_DATETIME, TX_FRAUD
from fraudstream.transactions.event import LabelEvent, ScoreEvent

#: Model version of scores made without a registered version.
UNVERSIONED = -1


def joined(scores: Iterable[ScoreEvent], labels: Iterable[LabelEvent]) -> pd.DataFrame:
    """One row per transaction scored and labelled: its last score and its label."""
    scored = list(scores)
    score_rows = pd.DataFrame(
        {
            TRANSACTION_ID: [s.transaction_id for s in scored],
            CUSTOMER_ID: [s.customer_id for s in scored],
            TX_DATETIME: [s.tx_datetime for s in scored],
            "FRAUD_PROBABILITY": [s.fraud_probability for s in scored],
            "THRESHOLD": [s.threshold for s in scored],
            "MODEL_VERSION": [
                UNVERSIONED if s.model_version is None else s.model_version for s in scored
            ],
        }
    ).drop_duplicates(TRANSACTION_ID, keep="last")
    known = list(labels)
    label_rows = pd.DataFrame(
        {
            TRANSACTION_ID: [label.transaction_id for label in known],
            TX_FRAUD: [label.tx_fraud for label in known],
        }
    ).drop_duplicates(TRANSACTION_ID, keep="last")
    frame = score_rows.merge(label_rows, on=TRANSACTION_ID, how="inner", validate="one_to_one")
    return frame.sort_values([TX_DATETIME, TRANSACTION_ID], kind="stable").reset_index(drop=True)


def quality_by_version(frame: pd.DataFrame, k: int) -> dict[int, Evaluation]:
    """Each model version's quality on its labelled scores (``k``: the daily card budget).

    A version whose labelled scores hold no fraud or no genuine transaction is left out: the
    ranking metrics are undefined for it until both kinds are labelled.
    """
    out: dict[int, Evaluation] = {}
    for version in sorted(frame["MODEL_VERSION"].unique().tolist()):
        rows = frame[frame["MODEL_VERSION"] == version].reset_index(drop=True)
        if rows[TX_FRAUD].nunique() < 2:
            continue
        threshold = float(rows["THRESHOLD"].iloc[-1])
        scores = rows["FRAUD_PROBABILITY"].to_numpy(np.float64)
        out[int(version)] = evaluate(rows, scores, threshold, k)
    return out


__all__ = ["UNVERSIONED", "joined", "quality_by_version"]
