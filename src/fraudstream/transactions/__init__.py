"""The transaction contract: column names, wire events, the file schema and its validation."""

from fraudstream.transactions.event import LabelEvent, TransactionEvent
from fraudstream.transactions.files import read_transaction_file
from fraudstream.transactions.labels import with_label_times
from fraudstream.transactions.validate import ValidationResult, validate_transactions

__all__ = [
    "LabelEvent",
    "TransactionEvent",
    "ValidationResult",
    "read_transaction_file",
    "validate_transactions",
    "with_label_times",
]
