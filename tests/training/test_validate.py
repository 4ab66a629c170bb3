from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudstream.data.config import ValidationConfig
from fraudstream.data.report import format_report
from fraudstream.data.schema import RAW_COLUMNS
from fraudstream.data.validate import validate_data

pytestmark = [pytest.mark.unit, pytest.mark.data]


@pytest.fixture
def raw(raw_customers: pd.DataFrame) -> pd.DataFrame:
    return raw_customers.copy()


def _only_failure(
    df: pd.DataFrame, config: ValidationConfig | None = None
) -> tuple[str, str, str, list[str]]:
    report = validate_data(df, config)
    assert not report.passed
    assert len(report.failures) == 1, [f.check for f in report.failures]
    failure = report.failures[0]
    return failure.check, failure.message, failure.fix, failure.examples


def test_clean_synthetic_data_passes(raw: pd.DataFrame) -> None:
    report = validate_data(raw)
    assert report.passed
    assert report.failures == []
    assert report.rows == len(raw)
    assert report.handled_quirks["blank_total_charges"] == int(raw["TotalCharges"].eq(" ").sum())


def test_missing_column_is_named_with_the_expected_layout(raw: pd.DataFrame) -> None:
    check, message, fix, _ = _only_failure(raw.drop(columns=["Contract"]))
    assert check == "column_present"
    assert "'Contract'" in message
    assert "expected columns" in fix


def test_extra_column_is_named(raw: pd.DataFrame) -> None:
    check, message, fix, _ = _only_failure(raw.assign(Region="north"))
    assert (check, "'Region'" in message) == ("no_extra_columns", True)
    assert "remove 'Region'" in fix


def test_columns_out_of_order_are_reported(raw: pd.DataFrame) -> None:
    swapped = [RAW_COLUMNS[1], RAW_COLUMNS[0], *RAW_COLUMNS[2:]]
    check, _, fix, _ = _only_failure(raw[swapped])
    assert check == "column_order"
    assert "reorder" in fix


def test_wrong_dtype_names_column_value_and_row(raw: pd.DataFrame) -> None:
    raw["tenure"] = raw["tenure"].astype("str")
    raw.loc[4, "tenure"] = "twelve"
    check, message, fix, examples = _only_failure(raw)
    assert check == "dtype"
    assert "'tenure' must hold whole numbers" in message
    assert examples == ["'twelve' (row 5)"]
    assert "non-numeric" in fix


def test_fractional_value_in_an_integer_column_is_a_dtype_failure(raw: pd.DataFrame) -> None:
    raw["tenure"] = raw["tenure"].astype("float64")
    raw.loc[2, "tenure"] = 3.5
    check, _, _, examples = _only_failure(raw)
    assert check == "dtype"
    assert examples == ["3.5 (row 3)"]


def test_non_numeric_total_charges_is_not_mistaken_for_the_blank_quirk(raw: pd.DataFrame) -> None:
    row = int(raw.index[raw["tenure"] > 0][0])
    raw.loc[row, "TotalCharges"] = "n/a"
    check, _, _, examples = _only_failure(raw)
    assert check == "dtype"
    assert examples == [f"'n/a' (row {row + 1})"]


def test_unknown_category_lists_the_allowed_values(raw: pd.DataFrame) -> None:
    raw.loc[3, "Contract"] = "Monthly"
    check, message, fix, examples = _only_failure(raw)
    assert check == "allowed_values"
    assert "'Contract'" in message
    assert examples == ["'Monthly' (row 4)"]
    assert "'Month-to-month', 'One year', 'Two year'" in fix


def test_unknown_target_label_is_reported(raw: pd.DataFrame) -> None:
    raw.loc[0, "Churn"] = "Maybe"
    check, _, fix, _ = _only_failure(raw)
    assert check == "allowed_values"
    assert "'No', 'Yes'" in fix


@pytest.mark.parametrize(
    ("column", "value"), [("tenure", -4), ("MonthlyCharges", 9999.0), ("SeniorCitizen", 2)]
)
def test_out_of_range_value_gives_the_range(raw: pd.DataFrame, column: str, value: float) -> None:
    raw[column] = raw[column].astype("float64") if isinstance(value, float) else raw[column]
    raw.loc[6, column] = value
    failures = validate_data(raw).failures
    ranged = [f for f in failures if f.check == "range"]
    assert len(ranged) == 1
    assert ranged[0].column == column
    assert ranged[0].examples[0].endswith("(row 7)")
    assert "within [" in ranged[0].fix


def test_duplicate_ids_are_reported_with_both_rows(raw: pd.DataFrame) -> None:
    raw.loc[9, "customerID"] = raw.loc[8, "customerID"]
    check, message, fix, examples = _only_failure(raw)
    assert check == "field_uniqueness"
    assert "duplicate" in message
    assert len(examples) == 2
    assert "unique" in fix


def test_missing_values_are_reported(raw: pd.DataFrame) -> None:
    raw.loc[12, "Partner"] = np.nan
    check, _, fix, _ = _only_failure(raw)
    assert check == "not_nullable"
    assert "fill the missing 'Partner'" in fix


def test_no_internet_contradiction_is_reported(raw: pd.DataFrame) -> None:
    row = int(raw.index[raw["InternetService"] != "No"][0])
    raw.loc[row, "TechSupport"] = "No internet service"
    check, message, _, examples = _only_failure(raw)
    assert check == "no_internet_consistency"
    assert "'TechSupport'" in message
    assert "TechSupport='No internet service'" in examples[0]


def test_no_phone_contradiction_is_reported(raw: pd.DataFrame) -> None:
    row = int(raw.index[raw["PhoneService"] == "Yes"][0])
    raw.loc[row, "MultipleLines"] = "No phone service"
    assert _only_failure(raw)[0] == "no_phone_consistency"


def test_blank_total_charges_is_allowed_only_for_new_customers(raw: pd.DataFrame) -> None:
    row = int(raw.index[raw["tenure"] > 0][0])
    raw.loc[row, "TotalCharges"] = " "
    check, message, fix, _ = _only_failure(raw)
    assert check == "blank_total_charges"
    assert "tenure is not 0" in message
    assert "tenure 0" in fix


def test_empty_total_charges_for_new_customers_counts_as_the_quirk(raw: pd.DataFrame) -> None:
    raw.loc[raw["tenure"] == 0, "TotalCharges"] = np.nan
    report = validate_data(raw)
    assert report.passed
    assert report.handled_quirks["blank_total_charges"] == int((raw["tenure"] == 0).sum())


def test_every_failure_is_collected_not_just_the_first(raw: pd.DataFrame) -> None:
    raw.loc[1, "Contract"] = "Weekly"
    raw.loc[2, "gender"] = "X"
    raw.loc[3, "tenure"] = -1
    bad = raw.drop(columns=["Dependents"])
    checks = sorted(f.check for f in validate_data(bad).failures)
    assert checks == ["allowed_values", "allowed_values", "column_present", "range"]


def test_too_few_rows_fails_the_quality_gate(raw: pd.DataFrame) -> None:
    check, message, fix, _ = _only_failure(raw.head(50))
    assert check == "min_rows"
    assert "50 rows" in message
    assert "min_rows" in fix


def test_churn_rate_outside_bounds_fails(raw: pd.DataFrame) -> None:
    raw["Churn"] = "No"
    check, message, _, _ = _only_failure(raw)
    assert check == "churn_rate"
    assert "0.000" in message


def test_too_many_duplicate_rows_fail(raw: pd.DataFrame) -> None:
    copies = raw.head(40).copy()
    copies["customerID"] = [f"DUP-{i:05d}" for i in range(len(copies))]
    check, _, _, _ = _only_failure(pd.concat([raw, copies], ignore_index=True))
    assert check == "duplicate_rows"


def test_too_many_missing_cells_fail_even_when_allowed_by_schema(raw: pd.DataFrame) -> None:
    config = ValidationConfig(max_missing_share=0.0)
    raw.loc[0, "gender"] = np.nan
    checks = {f.check for f in validate_data(raw, config).failures}
    assert checks == {"not_nullable", "missing_share"}


def test_implausible_charges_ratio_is_a_warning_not_a_failure(raw: pd.DataFrame) -> None:
    row = int(raw.index[raw["tenure"] > 5][0])
    raw.loc[row, "TotalCharges"] = "1.00"
    report = validate_data(raw)
    assert report.passed
    assert [w.check for w in report.warnings] == ["charges_ratio"]
    assert report.warnings[0].examples[0].endswith(f"(row {row + 1})")


def test_examples_are_capped_by_config(raw: pd.DataFrame) -> None:
    raw.loc[0:20, "gender"] = "X"
    failure = validate_data(raw, ValidationConfig(max_examples=3)).failures[0]
    assert failure.failing_rows == 21
    assert len(failure.examples) == 3


def test_format_report_is_readable_for_people(raw: pd.DataFrame) -> None:
    raw.loc[3, "Contract"] = "Monthly"
    text = format_report(validate_data(raw))
    assert text.startswith(f"Validation FAILED with 1 failure(s): {len(raw)} rows, 21 columns.")
    assert "examples: 'Monthly' (row 4)" in text
    assert "fix: use one of" in text


def test_format_report_of_clean_data_says_passed(raw: pd.DataFrame) -> None:
    assert format_report(validate_data(raw)).startswith("Validation PASSED")


@pytest.mark.integration
def test_real_data_passes_with_the_eleven_blank_total_charges(real_data_path: object) -> None:
    df = pd.read_csv(real_data_path)  # type: ignore[call-overload]
    report = validate_data(df)
    assert report.passed, format_report(report)
    assert report.rows == 7043
    assert report.handled_quirks == {"blank_total_charges": 11}
    assert report.warnings == []
