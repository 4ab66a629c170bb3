from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import pytest
from pydantic import ValidationError

from fraudstream.transactions.contract import EVENT_COLUMNS
from fraudstream.transactions.event import LabelEvent, TransactionEvent

pytestmark = pytest.mark.unit

WIRE = {
    "TRANSACTION_ID": 17,
    "TX_DATETIME": "2018-04-01T07:19:05",
    "CUSTOMER_ID": 596,
    "TERMINAL_ID": 3156,
    "TX_AMOUNT": 57.16,
    "TX_TIME_SECONDS": 26345,
    "TX_TIME_DAYS": 0,
}


def test_event_reads_and_writes_the_handbook_names_on_the_wire() -> None:
    event = TransactionEvent.model_validate_json(json.dumps(WIRE))
    assert event.transaction_id == 17
    assert event.tx_datetime == datetime(2018, 4, 1, 7, 19, 5)
    assert json.loads(event.to_json()) == WIRE
    assert tuple(json.loads(event.to_json())) == EVENT_COLUMNS


def test_event_from_a_file_row_equals_the_wire_event(transactions: pd.DataFrame) -> None:
    row = transactions.iloc[0]
    event = TransactionEvent.model_validate(
        {
            name: row[name].item() if hasattr(row[name], "item") else row[name]
            for name in EVENT_COLUMNS
        }
        | {"TX_DATETIME": row["TX_DATETIME"].to_pydatetime()}
    )
    assert TransactionEvent.model_validate_json(event.to_json()) == event


@pytest.mark.parametrize(
    ("field", "value", "phrase"),
    [
        ("TX_AMOUNT", -1.0, "greater than or equal to 0"),
        ("TX_AMOUNT", float("nan"), "finite"),
        ("TX_AMOUNT", float("inf"), "finite"),
        ("TX_AMOUNT", "57.16", "valid number"),
        ("TRANSACTION_ID", "17", "valid integer"),
        ("CUSTOMER_ID", 1.5, "valid integer"),
        ("TERMINAL_ID", -3, "greater than or equal to 0"),
        ("TX_DATETIME", "not a time", "datetime"),
    ],
)
def test_event_rejects_bad_fields_naming_them(field: str, value: object, phrase: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TransactionEvent.model_validate_json(json.dumps(WIRE | {field: value}))
    text = str(caught.value)
    assert field in text
    assert phrase in text


def test_event_rejects_unknown_and_missing_fields() -> None:
    with pytest.raises(ValidationError, match="TX_FRAUD"):
        TransactionEvent.model_validate_json(json.dumps(WIRE | {"TX_FRAUD": 1}))
    with pytest.raises(ValidationError, match="TERMINAL_ID"):
        TransactionEvent.model_validate_json(
            json.dumps({k: v for k, v in WIRE.items() if k != "TERMINAL_ID"})
        )


def test_label_event_carries_the_label_and_when_it_became_known() -> None:
    label = LabelEvent.model_validate(
        {
            "TRANSACTION_ID": 17,
            "CUSTOMER_ID": 596,
            "TERMINAL_ID": 3156,
            "TX_DATETIME": "2018-04-01T07:19:05",
            "TX_FRAUD": 1,
            "TX_FRAUD_SCENARIO": 2,
            "TX_LABEL_DATETIME": "2018-04-08T09:00:00",
        }
    )
    assert label.tx_fraud == 1
    assert LabelEvent.model_validate_json(label.to_json()) == label
    with pytest.raises(ValidationError, match="TX_FRAUD"):
        LabelEvent.model_validate(label.model_dump(by_alias=True) | {"TX_FRAUD": 2})
