from __future__ import annotations

import pandas as pd
import pytest

from fraudstream.transactions.contract import BOOK_COLUMNS, FILE_COLUMNS, TX_LABEL_DATETIME
from fraudstream.transactions.labels import with_label_times
from fraudstream.transactions.report import format_report
from fraudstream.transactions.validate import validate_transactions

pytestmark = pytest.mark.data


def _as_read_from_csv(
    frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    frame.to_csv(path, index=False)
    return pd.read_csv(path)


def test_simulated_transactions_pass_and_come_back_typed(transactions: pd.DataFrame) -> None:
    result = validate_transactions(transactions)
    assert result.report.passed, format_report(result.report)
    assert result.frame is not None
    pd.testing.assert_frame_equal(result.frame, transactions[list(FILE_COLUMNS)])


def test_a_csv_round_trip_is_typed_exactly_as_the_original(
    transactions: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> None:
    result = validate_transactions(_as_read_from_csv(transactions, tmp_path_factory))
    assert result.frame is not None, format_report(result.report)
    pd.testing.assert_frame_equal(result.frame, transactions)


def test_a_file_in_the_handbook_layout_passes_and_gets_the_default_label_delay(
    transactions: pd.DataFrame,
) -> None:
    book = transactions[list(BOOK_COLUMNS)]
    result = validate_transactions(book)
    assert result.frame is not None
    timed = with_label_times(result.frame, 7.0)
    delay = timed[TX_LABEL_DATETIME] - timed["TX_DATETIME"]
    assert (delay == pd.Timedelta(days=7)).all()


def test_events_without_labels_pass(transactions: pd.DataFrame) -> None:
    events = transactions.drop(columns=["TX_FRAUD", "TX_FRAUD_SCENARIO", TX_LABEL_DATETIME])
    assert validate_transactions(events).report.passed


def _broken(transactions: pd.DataFrame, column: str, row: int, value: object) -> pd.DataFrame:
    frame = transactions.head(30).astype({column: "object"})
    frame.loc[row, column] = value
    return frame


@pytest.mark.parametrize(
    ("column", "row", "value", "check", "example"),
    [
        ("TX_AMOUNT", 2, -0.01, "greater_than_or_equal_to", "-0.01 (row 3)"),
        ("TX_AMOUNT", 2, float("inf"), "finite", "inf (row 3)"),
        ("TX_AMOUNT", 2, None, "not_nullable", "(row 3)"),
        ("TX_AMOUNT", 2, "ten euros", "dtype", "'ten euros' (row 3)"),
        ("TERMINAL_ID", 5, 2.5, "dtype", "2.5 (row 6)"),
        ("TERMINAL_ID", 5, None, "not_nullable", "(row 6)"),
        ("CUSTOMER_ID", 5, -4, "greater_than_or_equal_to", "-4 (row 6)"),
        ("TX_FRAUD", 1, 3, "isin", "3 (row 2)"),
        ("TX_FRAUD_SCENARIO", 1, 9, "isin", "9 (row 2)"),
        ("TX_LABEL_DATETIME", 4, "soon", "dtype", "'soon' (row 5)"),
    ],
)
def test_each_broken_value_is_reported_with_column_row_and_value(
    transactions: pd.DataFrame, column: str, row: int, value: object, check: str, example: str
) -> None:
    result = validate_transactions(_broken(transactions, column, row, value))
    assert result.frame is None
    failure = next(f for f in result.report.failures if f.column == column and f.check == check)
    assert any(example in text for text in failure.examples), failure.examples
    assert failure.fix


@pytest.mark.parametrize(
    ("change", "check", "example"),
    [
        (
            lambda f: f.assign(TX_TIME_DAYS=f["TX_TIME_DAYS"] + (f.index == 3)),
            "days_match_seconds",
            "row 4:",
        ),
        (
            lambda f: f.assign(TX_FRAUD_SCENARIO=(f.index == 7).astype("int64") * 2, TX_FRAUD=0),
            "fraud_matches_scenario",
            "row 8: TX_FRAUD=0, TX_FRAUD_SCENARIO=2",
        ),
        (
            lambda f: f.assign(
                TX_LABEL_DATETIME=f["TX_DATETIME"]
                - pd.to_timedelta((f.index == 2).astype("int64"), unit="s")
            ),
            "label_after_transaction",
            "row 3:",
        ),
        (
            lambda f: f.assign(TX_DATETIME=f["TX_DATETIME"].iloc[::-1].to_numpy()),
            "in_time_order",
            "row 2:",
        ),
        (
            lambda f: f.assign(TRANSACTION_ID=f["TRANSACTION_ID"].where(f.index != 4, 0)),
            "increasing",
            "0 (row 5)",
        ),
    ],
    ids=["days", "fraud-scenario", "label-time", "time-order", "ids"],
)
def test_rules_across_columns_name_the_rows(
    transactions: pd.DataFrame, change: object, check: str, example: str
) -> None:
    frame = change(transactions.head(30).copy())  # type: ignore[operator]
    result = validate_transactions(frame)
    failure = next(f for f in result.report.failures if f.check == check)
    assert any(example in text for text in failure.examples), failure.examples


def test_examples_are_capped_and_the_count_is_complete(transactions: pd.DataFrame) -> None:
    frame = transactions.head(40).assign(TX_AMOUNT=-1.0)
    failure = next(
        f
        for f in validate_transactions(frame, max_examples=3).report.failures
        if f.column == "TX_AMOUNT"
    )
    assert failure.failing_rows == 40
    assert len(failure.examples) == 3


def test_time_zone_aware_times_are_read_as_naive_utc(transactions: pd.DataFrame) -> None:
    frame = transactions.head(10).copy()
    frame["TX_DATETIME"] = frame["TX_DATETIME"].dt.tz_localize("Europe/Brussels")
    frame["TX_LABEL_DATETIME"] = frame["TX_LABEL_DATETIME"].dt.tz_localize("Europe/Brussels")
    result = validate_transactions(frame.astype({"TX_DATETIME": "str"}))
    assert result.frame is not None, format_report(result.report)
    shift = transactions.head(10)["TX_DATETIME"] - result.frame["TX_DATETIME"]
    assert set(shift) == {pd.Timedelta(hours=2)}
