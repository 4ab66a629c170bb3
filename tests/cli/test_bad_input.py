"""Every kind of bad transaction file, through the CLI: a message naming the column and row, a
non-zero exit, and nothing downstream changed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from fraudstream.cli import main
from fraudstream.errors import DataValidationError, IngestionError

OUTPUTS = (
    "data/processed/transactions.parquet",
    "data/features/features.parquet",
    "data/features/features.json",
)


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as caught:
        main(list(args))
    captured = capsys.readouterr()
    return int(caught.value.code or 0), captured.err + captured.out


def _set(column: str, row: int, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.astype({column: "object"})
        out.loc[row, column] = value
        return out

    return change


def _duplicate_id(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.loc[6, "TRANSACTION_ID"] = out.loc[5, "TRANSACTION_ID"]
    return out


#: A broken file's maker, and what the message must say (column and 1-based data row).
INVALID_FILES: dict[str, tuple[Callable[[pd.DataFrame], pd.DataFrame], tuple[str, ...]]] = {
    "missing column": (
        lambda frame: frame.drop(columns=["TERMINAL_ID"]),
        ("required column 'TERMINAL_ID' is missing",),
    ),
    "negative amount": (
        _set("TX_AMOUNT", 3, -12.5),
        ("column 'TX_AMOUNT' has 1 negative value(s)", "-12.5 (row 4)"),
    ),
    "NaN amount": (
        _set("TX_AMOUNT", 4, float("nan")),
        ("column 'TX_AMOUNT' has 1 missing value(s)", "(row 5)"),
    ),
    "duplicate ids": (
        _duplicate_id,
        ("column 'TRANSACTION_ID' has 2 duplicate value(s)", "(row 6)", "(row 7)"),
    ),
    "text id": (
        _set("CUSTOMER_ID", 2, "card-17"),
        ("column 'CUSTOMER_ID' must hold whole numbers", "'card-17' (row 3)"),
    ),
    "unparseable timestamp": (
        _set("TX_DATETIME", 8, "yesterday at noon"),
        ("column 'TX_DATETIME' must hold timestamps", "'yesterday at noon' (row 9)"),
    ),
    "extra column": (
        lambda frame: frame.assign(MERCHANT_NAME="ACME"),
        ("unexpected column 'MERCHANT_NAME'",),
    ),
}


def _write(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def _snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {
        name: ((root / name).stat().st_mtime_ns, (root / name).read_bytes()) for name in OUTPUTS
    }


@pytest.fixture
def built_project(project: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The project after a full pipeline run on good simulated data."""
    code, output = run_cli(capsys, "pipeline")
    assert code == 0, output
    return project


@pytest.mark.unit
@pytest.mark.parametrize("case", sorted(INVALID_FILES))
def test_validate_input_names_column_and_row(
    case: str, tmp_path: Path, transactions: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    make, expected = INVALID_FILES[case]
    path = _write(make(transactions.head(50).copy()), tmp_path / "bad.csv")
    code, output = run_cli(capsys, "validate", "--input", str(path))
    assert code == DataValidationError.exit_code
    for phrase in expected:
        assert phrase in output
    assert "Traceback" not in output


@pytest.mark.unit
def test_validate_input_passes_a_good_file(
    tmp_path: Path, transactions: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(transactions, tmp_path / "good.csv")
    code, output = run_cli(capsys, "validate", "--input", str(path))
    assert code == 0, output
    assert f"Validation PASSED: {len(transactions)} rows" in output


@pytest.mark.unit
def test_validate_reports_every_problem_at_once(
    tmp_path: Path, transactions: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = transactions.head(50).copy()
    for make, _ in INVALID_FILES.values():
        frame = make(frame)
    path = _write(frame, tmp_path / "everything-wrong.csv")
    code, output = run_cli(capsys, "validate", "--input", str(path))
    assert code == DataValidationError.exit_code
    for _, expected in INVALID_FILES.values():
        for phrase in expected:
            assert phrase in output


@pytest.mark.unit
@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (b"", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is binary, not CSV text"),
        ("TRANSACTION_ID,TX_AMOUNT\n1,caf\xe9\n".encode("latin-1"), "not readable as UTF-8 CSV"),
    ],
    ids=["empty file", "non-CSV file", "not UTF-8"],
)
def test_validate_input_refuses_what_is_not_a_csv_table(
    content: bytes, phrase: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "transactions.csv"
    path.write_bytes(content)
    code, output = run_cli(capsys, "validate", "--input", str(path))
    assert code == IngestionError.exit_code
    assert phrase in output
    assert str(path) in output


@pytest.mark.unit
def test_validate_input_header_only_says_there_are_no_rows(
    tmp_path: Path, transactions: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(transactions.head(0), tmp_path / "header-only.csv")
    code, output = run_cli(capsys, "validate", "--input", str(path))
    assert code == DataValidationError.exit_code
    assert "the file holds no transactions" in output


@pytest.mark.integration
@pytest.mark.parametrize("case", sorted(INVALID_FILES))
def test_pipeline_leaves_processed_outputs_untouched_on_invalid_data(
    case: str,
    built_project: Path,
    transactions: pd.DataFrame,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make, expected = INVALID_FILES[case]
    before = _snapshot(built_project)
    bad = _write(make(transactions.copy()), built_project / "incoming" / "bad.csv")
    code, output = run_cli(capsys, "ingest", "--source", str(bad))
    assert code == 0, output
    code, output = run_cli(capsys, "validate")
    assert code == DataValidationError.exit_code
    assert expected[0] in output
    assert "Nothing downstream was changed" in output
    assert _snapshot(built_project) == before
    report = (built_project / "reports" / "validation.txt").read_text()
    assert report.startswith("Validation FAILED")
    code, output = run_cli(capsys, "features", "build")
    assert code != 0
    assert "has not passed validation" in output
    assert _snapshot(built_project) == before


@pytest.mark.integration
@pytest.mark.parametrize(
    "content", [b"", b"PAR1\x00\x00garbage"], ids=["empty file", "non-CSV file"]
)
def test_ingest_of_unreadable_file_changes_nothing(
    content: bytes, built_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = built_project / "data" / "raw"
    before = _snapshot(built_project) | {
        name: ((raw / name).stat().st_mtime_ns, (raw / name).read_bytes())
        for name in ("transactions.parquet", "manifest.json")
    }
    bad = built_project / "incoming" / "bad.csv"
    bad.parent.mkdir()
    bad.write_bytes(content)
    code, output = run_cli(capsys, "ingest", "--source", str(bad))
    assert code == IngestionError.exit_code
    assert str(bad) in output
    after = _snapshot(built_project) | {
        name: ((raw / name).stat().st_mtime_ns, (raw / name).read_bytes())
        for name in ("transactions.parquet", "manifest.json")
    }
    assert after == before


@pytest.mark.unit
def test_error_excerpts_never_echo_a_huge_value(
    tmp_path: Path, transactions: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    huge = "9" * 10 + "x" * 1_000_000
    path = _write(_set("TERMINAL_ID", 1, huge)(transactions.head(20).copy()), tmp_path / "bad.csv")
    code, output = run_cli(capsys, "validate", "--input", str(path))
    assert code == DataValidationError.exit_code
    assert "column 'TERMINAL_ID' must hold whole numbers" in output
    assert len(output) < 5_000
