"""What the data pipeline built, in numbers a person checks first.

Rows, time span, fraud rate and the frauds' scenario mix (the simulator's reference: about
7 / 62 / 31 % for large amounts / compromised terminals / compromised cards), the feature
definition's version, and a few example rows of the feature table.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict

from fraudstream.errors import PipelineStateError
from fraudstream.feature_store import definition_version
from fraudstream.transactions.contract import (
    SCENARIOS,
    TRANSACTION_ID,
    TX_DATETIME,
    TX_FRAUD,
    TX_FRAUD_SCENARIO,
)

_RUN_FIRST = "run the pipeline first (`make pipeline` or `fraudstream pipeline`)"


class DataSummary(BaseModel):
    """What the feature stage built from: rows, fraud rate, scenario mix, the definition."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    processed_sha256: str
    rows: int
    frauds: int
    fraud_rate: float
    #: Transactions per scenario name (genuine included).
    scenario_counts: dict[str, int]
    #: Each fraud scenario's share of the frauds.
    fraud_mix: dict[str, float]
    first_transaction: str
    last_transaction: str
    features: list[str]
    definition_version: str


def summarize(frame: pd.DataFrame, features: list[str], processed_sha256: str) -> DataSummary:
    """Rows, fraud rate, scenario mix and time span of a typed transaction frame."""
    frauds = int(frame[TX_FRAUD].sum()) if TX_FRAUD in frame else 0
    counts: dict[str, int] = {}
    if TX_FRAUD_SCENARIO in frame:
        per_code = frame[TX_FRAUD_SCENARIO].value_counts().sort_index()
        counts = {
            SCENARIOS[int(code)]: int(n)
            for code, n in zip(per_code.index.tolist(), per_code.tolist(), strict=True)
        }
    genuine = SCENARIOS[0]
    return DataSummary(
        processed_sha256=processed_sha256,
        rows=len(frame),
        frauds=frauds,
        fraud_rate=round(frauds / max(len(frame), 1), 6),
        scenario_counts=counts,
        fraud_mix={
            name: round(n / frauds, 6) for name, n in counts.items() if name != genuine and frauds
        },
        first_transaction=str(frame[TX_DATETIME].min()),
        last_transaction=str(frame[TX_DATETIME].max()),
        features=features,
        definition_version=definition_version(),
    )


def read_summary(path: Path) -> DataSummary:
    """The summary the feature stage wrote at ``path``.

    Raises:
        PipelineStateError: the feature stage has not run yet.
    """
    if not path.is_file():
        msg = f"{path} is missing: {_RUN_FIRST}"
        raise PipelineStateError(msg)
    try:
        return DataSummary.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        msg = (
            f"{path} is not a summary this version writes ({exc.__class__.__name__}): {_RUN_FIRST}"
        )
        raise PipelineStateError(msg) from exc


def _need(path: Path) -> Path:
    if not path.is_file():
        msg = f"{path} is missing: {_RUN_FIRST}"
        raise PipelineStateError(msg)
    return path


def feature_head(features_path: Path, rows: int) -> pd.DataFrame:
    """The first ``rows`` rows of the feature table (read without loading the whole file)."""
    first = next(pq.ParquetFile(_need(features_path)).iter_batches(batch_size=rows))
    head: pd.DataFrame = first.to_pandas()
    return head


def scenario_examples(transactions_path: Path, features_path: Path) -> pd.DataFrame:
    """The features of the last transaction of each scenario, indexed by ``scenario #id``."""
    labels = pd.read_parquet(_need(transactions_path), columns=[TRANSACTION_ID, TX_FRAUD_SCENARIO])
    if TX_FRAUD_SCENARIO not in labels:
        return pd.DataFrame()
    last = labels.drop_duplicates(TX_FRAUD_SCENARIO, keep="last").sort_values(TX_FRAUD_SCENARIO)
    table = pq.read_table(
        _need(features_path), filters=[(TRANSACTION_ID, "in", last[TRANSACTION_ID].tolist())]
    )
    examples = table.to_pandas().merge(last, on=TRANSACTION_ID).sort_values(TX_FRAUD_SCENARIO)
    names = examples.pop(TX_FRAUD_SCENARIO).map(SCENARIOS)
    ids = examples.pop(TRANSACTION_ID).astype(str)
    indexed: pd.DataFrame = examples.set_index((names + " #" + ids).rename("scenario #id"))
    return indexed


__all__ = ["DataSummary", "feature_head", "read_summary", "scenario_examples", "summarize"]
