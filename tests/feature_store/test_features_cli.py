"""``fraudstream features build`` and ``features list`` through the CLI entry point."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from fraudstream.cli import main
from fraudstream.errors import ConfigError, DataValidationError, IngestionError
from fraudstream.feature_store import (
    FEATURE_DEFINITION,
    FEATURE_NAMES,
    compute_features,
    definition_version,
)
from fraudstream.simulator import SimulatorConfig, simulate
from fraudstream.transactions import contract as c

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("project")]


@pytest.fixture(scope="module")
def transactions() -> pd.DataFrame:
    """A simulated log: the CLI validates its input, so it must be a valid, time-ordered file."""
    return simulate(SimulatorConfig(customers=80, terminals=150, days=20, seed=5))


def _invoke(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI; return the exit code, what it printed, and its error paragraph."""
    with pytest.raises(SystemExit) as caught:
        main(list(args))
    out, err = capsys.readouterr()
    return int(caught.value.code or 0), out, err


@pytest.mark.parametrize(("source", "target"), [(".csv", ".parquet"), (".parquet", ".csv")])
def test_build_writes_the_feature_table_of_a_file(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    transactions: pd.DataFrame,
    source: str,
    target: str,
) -> None:
    input_path = tmp_path / f"transactions{source}"
    if source == ".csv":
        transactions.to_csv(input_path, index=False)
    else:
        transactions.to_parquet(input_path, index=False)
    output = tmp_path / "out" / f"features{target}"

    code, out, error = _invoke(
        capsys, "features", "build", "--input", str(input_path), "--output", str(output)
    )

    assert code == 0, (out, error)
    assert f"{len(transactions):,} rows" in out
    assert definition_version() in out
    written = pd.read_csv(output) if target == ".csv" else pd.read_parquet(output)
    expected = compute_features(transactions)
    assert list(written.columns) == [c.TRANSACTION_ID, *FEATURE_NAMES]
    pd.testing.assert_frame_equal(written, expected.reset_index(drop=True), rtol=1e-12)
    assert [p.name for p in output.parent.iterdir()] == [output.name]  # no temporary left


def test_build_reads_a_file_of_events_without_labels(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, transactions: pd.DataFrame
) -> None:
    input_path = tmp_path / "events.csv"
    transactions[list(c.EVENT_COLUMNS)].to_csv(input_path, index=False)
    output = tmp_path / "features.parquet"
    code, _, error = _invoke(capsys, "features", "build", "-i", str(input_path), "-o", str(output))
    assert code == 0, error
    assert (pd.read_parquet(output)["TERMINAL_ID_RISK_7DAY_WINDOW"] == 0).all()


@pytest.mark.parametrize(
    ("input_name", "output_name", "error", "message"),
    [
        ("transactions.csv", "features.json", ConfigError, "--output .*features.json.*suffix"),
        ("absent.csv", "features.csv", IngestionError, "does not exist"),
        ("broken.parquet", "features.csv", IngestionError, "not a readable Parquet file"),
        ("no_terminal.csv", "features.csv", DataValidationError, "'TERMINAL_ID' is missing"),
    ],
)
def test_build_explains_what_is_wrong_and_writes_nothing(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    transactions: pd.DataFrame,
    input_name: str,
    output_name: str,
    error: type[Exception],
    message: str,
) -> None:
    transactions.to_csv(tmp_path / "transactions.csv", index=False)
    transactions.to_csv(tmp_path / "transactions.txt", index=False)
    transactions.drop(columns=c.TERMINAL_ID).to_csv(tmp_path / "no_terminal.csv", index=False)
    (tmp_path / "broken.parquet").write_text("not parquet")
    output = tmp_path / output_name

    code, _, raised = _invoke(
        capsys, "features", "build", "--input", str(tmp_path / input_name), "--output", str(output)
    )

    assert code == error.exit_code  # type: ignore[attr-defined]
    assert re.search(message, raised), raised
    assert not output.exists()


def test_a_failed_build_leaves_the_previous_output_in_place(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, transactions: pd.DataFrame
) -> None:
    output = tmp_path / "features.csv"
    output.write_text("previous\n")
    bad = tmp_path / "bad.csv"
    transactions.assign(**{c.TX_AMOUNT: -1.0}).to_csv(bad, index=False)
    code, _, raised = _invoke(capsys, "features", "build", "-i", str(bad), "-o", str(output))
    assert code == DataValidationError.exit_code
    assert "negative value(s)" in raised
    assert output.read_text() == "previous\n"


def test_list_prints_every_feature_with_its_declaration(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _invoke(capsys, "features", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["name", "entity", "window", "aggregation", "delay", "description"]
    for feature, line in zip(FEATURE_DEFINITION, lines[1:], strict=False):
        fields = line.split()
        assert fields[0] == feature.name
        assert feature.description in line
    terminal_risk = next(line for line in lines if line.startswith("TERMINAL_ID_RISK_7DAY_WINDOW"))
    assert terminal_risk.split()[1:5] == ["TERMINAL_ID", "7d", "fraud_risk", "7d"]
    assert f"{len(FEATURE_DEFINITION)} features, definition {definition_version()}" in out
