"""What the data pipeline built, in numbers a person checks first.

The transactions' size, span, fraud rate and fraud mix (the simulator's reference: about
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
from fraudstream.transactions.contract import SCENARIOS, TRANSACTION_ID, TX_FRAUD_SCENARIO
from fraudstream.transactions.summary import TransactionSummary, summarize

_RUN_FIRST = "run the pipeline first (`make pipeline` or `fraudstream pipeline`)"


class DataSummary(BaseModel):
    """What the feature stage built: the transactions it read, the features it wrote."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    processed_sha256: str
    transactions: TransactionSummary
    features: list[str]
    definition_version: str


def summarize_build(frame: pd.DataFrame, features: list[str], processed_sha256: str) -> DataSummary:
    """The summary of one feature build from ``frame`` (typed transactions)."""
    return DataSummary(
        processed_sha256=processed_sha256,
        transactions=summarize(frame),
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


__all__ = [
    "DataSummary",
    "feature_head",
    "read_summary",
    "scenario_examples",
    "summarize_build",
]
