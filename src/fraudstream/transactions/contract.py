"""The transaction record, declared once: column names, their order and their types.

The names are those of the public simulated card-fraud data set (the *Reproducible Machine
Learning for Credit Card Fraud Detection* handbook), so files in that layout drop in unchanged.
Everything else — the pydantic events on the wire, the pandera file schema, the simulator, the
feature store — takes its names from here.
"""

from __future__ import annotations

from typing import Final

TRANSACTION_ID: Final = "TRANSACTION_ID"
TX_DATETIME: Final = "TX_DATETIME"
CUSTOMER_ID: Final = "CUSTOMER_ID"
TERMINAL_ID: Final = "TERMINAL_ID"
TX_AMOUNT: Final = "TX_AMOUNT"
TX_TIME_SECONDS: Final = "TX_TIME_SECONDS"
TX_TIME_DAYS: Final = "TX_TIME_DAYS"
TX_FRAUD: Final = "TX_FRAUD"
TX_FRAUD_SCENARIO: Final = "TX_FRAUD_SCENARIO"
#: When the transaction's label (fraud or genuine) becomes known to the system.
TX_LABEL_DATETIME: Final = "TX_LABEL_DATETIME"

#: What a scoring event carries: no label (labels arrive later, on their own stream).
EVENT_COLUMNS: Final = (
    TRANSACTION_ID,
    TX_DATETIME,
    CUSTOMER_ID,
    TERMINAL_ID,
    TX_AMOUNT,
    TX_TIME_SECONDS,
    TX_TIME_DAYS,
)
#: The labels of a transaction, known only after a delay.
LABEL_COLUMNS: Final = (TX_FRAUD, TX_FRAUD_SCENARIO)
#: A transaction file in the handbook's layout (events and labels).
BOOK_COLUMNS: Final = EVENT_COLUMNS + LABEL_COLUMNS
#: A transaction file as the simulator writes it: the handbook's layout plus the label timing.
FILE_COLUMNS: Final = (*BOOK_COLUMNS, TX_LABEL_DATETIME)
#: Columns a file may lack: the labels (a file of events to score) and the label timing.
OPTIONAL_COLUMNS: Final = frozenset({*LABEL_COLUMNS, TX_LABEL_DATETIME})

INTEGER_COLUMNS: Final = (
    TRANSACTION_ID,
    CUSTOMER_ID,
    TERMINAL_ID,
    TX_TIME_SECONDS,
    TX_TIME_DAYS,
    TX_FRAUD,
    TX_FRAUD_SCENARIO,
)
DATETIME_COLUMNS: Final = (TX_DATETIME, TX_LABEL_DATETIME)

#: Fraud scenarios: 0 genuine, 1-3 the handbook's, 4 the simulator's injected new pattern
#: (``--drift``), which a model trained before it has never seen.
SCENARIOS: Final = {
    0: "genuine",
    1: "amount over 220",
    2: "compromised terminal",
    3: "compromised card",
    4: "injected new pattern",
}

__all__ = [
    "BOOK_COLUMNS",
    "CUSTOMER_ID",
    "DATETIME_COLUMNS",
    "EVENT_COLUMNS",
    "FILE_COLUMNS",
    "INTEGER_COLUMNS",
    "LABEL_COLUMNS",
    "OPTIONAL_COLUMNS",
    "SCENARIOS",
    "TERMINAL_ID",
    "TRANSACTION_ID",
    "TX_AMOUNT",
    "TX_DATETIME",
    "TX_FRAUD",
    "TX_FRAUD_SCENARIO",
    "TX_LABEL_DATETIME",
    "TX_TIME_DAYS",
    "TX_TIME_SECONDS",
]
