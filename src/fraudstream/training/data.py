"""The labelled feature frame a model trains on: the pipeline's files, or any transaction file.

Either way the frame holds every transaction (typed, with labels and label times) joined with
its features computed point in time from the declaration, in time order.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fraudstream.config import FraudstreamConfig
from fraudstream.errors import DataValidationError, PipelineStateError
from fraudstream.feature_store import compute_features, definition_version
from fraudstream.io import sha256_file
from fraudstream.training.pipeline import FEATURES_FILE, FEATURES_SUMMARY, TRANSACTIONS_FILE
from fraudstream.training.summary import read_summary
from fraudstream.transactions.contract import TRANSACTION_ID, TX_AMOUNT
from fraudstream.transactions.files import read_transaction_file
from fraudstream.transactions.labels import with_label_times
from fraudstream.transactions.report import validation_error
from fraudstream.transactions.validate import validate_transactions


def read_valid_transactions(path: Path, config: FraudstreamConfig) -> pd.DataFrame:
    """A transaction file, validated and typed, with label times (the configured delay if absent).

    Raises:
        IngestionError: the file is missing or not a table.
        DataValidationError: a value breaks the contract (the message names column and row).
    """
    result = validate_transactions(read_transaction_file(path), config.validation.max_examples)
    if result.frame is None:
        raise DataValidationError(validation_error(result.report, str(path), None))
    return with_label_times(result.frame, config.validation.default_label_delay_days)


def join_features(transactions: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """Transactions beside their features (``TX_AMOUNT`` is both: kept once)."""
    return transactions.merge(
        features.drop(columns=[TX_AMOUNT], errors="ignore"), on=TRANSACTION_ID, validate="1:1"
    )


def load_labelled_features(
    config: FraudstreamConfig, input_path: Path | None
) -> tuple[pd.DataFrame, str]:
    """Transactions joined with their features, and the sha256 of the data they came from.

    Without ``input_path``: the pipeline's validated transactions and feature table, which must
    belong together. With it: that file, validated, its features computed now.

    Raises:
        PipelineStateError: the pipeline has not run, or its files do not belong together.
    """
    if input_path is not None:
        transactions = read_valid_transactions(input_path, config)
        return join_features(transactions, compute_features(transactions)), sha256_file(input_path)
    processed = config.paths.processed_dir / TRANSACTIONS_FILE
    features = config.paths.features_dir / FEATURES_FILE
    if not processed.is_file() or not features.is_file():
        msg = f"{processed} or {features} is missing: run the data pipeline first (`make pipeline`) or pass --input"
        raise PipelineStateError(msg)
    summary = read_summary(config.paths.features_dir / FEATURES_SUMMARY)
    digest = sha256_file(processed)
    if summary.definition_version != definition_version():
        msg = f"{features} holds features of definition {summary.definition_version}, this fraudstream computes {definition_version()}: run `fraudstream features build` (or `make pipeline`) again"
        raise PipelineStateError(msg)
    if summary.processed_sha256 != digest:
        msg = f"{features} was built from other transactions than {processed}: run `fraudstream features build` again"
        raise PipelineStateError(msg)
    return join_features(pd.read_parquet(processed), pd.read_parquet(features)), digest


__all__ = ["join_features", "load_labelled_features", "read_valid_transactions"]
