from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from fraudstream.cli.simulate import register
from fraudstream.errors import ConfigError
from fraudstream.simulator import SimulatorConfig, parse_drift, simulate
from fraudstream.transactions.contract import DATETIME_COLUMNS, TX_FRAUD_SCENARIO

pytestmark = pytest.mark.unit

SIZE = ["--customers", "120", "--terminals", "240", "--days", "15", "--seed", "4"]
CONFIG = SimulatorConfig(customers=120, terminals=240, days=15, seed=4)


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """A root, so that ``simulate`` stays a sub-command as in the real CLI."""

    register(app)
    return app


def _run(app: typer.Typer, *args: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(app, ["simulate", *args])
    return result.exit_code, result.output, result.exception


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        frame = pd.read_csv(path, parse_dates=list(DATETIME_COLUMNS))
        return frame.astype(dict.fromkeys(DATETIME_COLUMNS, "datetime64[ns]"))
    return pd.read_parquet(path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_simulate_writes_a_file_that_reads_back_equal(
    app: typer.Typer, tmp_path: Path, suffix: str
) -> None:
    output = tmp_path / "out" / f"transactions{suffix}"
    code, out, error = _run(app, *SIZE, "--output", str(output))
    assert code == 0, (out, error)
    expected = simulate(CONFIG)
    pd.testing.assert_frame_equal(_read(output), expected, check_exact=True)
    assert f"simulated {len(expected):,} transactions" in out
    assert "fraud rate" in out
    assert "amount over 220 " in out
    assert "compromised terminal " in out
    assert "compromised card " in out
    assert [p.name for p in output.parent.iterdir()] == [output.name]  # no temporary left


def test_simulate_passes_start_date_label_timing_and_drift(
    app: typer.Typer, tmp_path: Path
) -> None:
    output = tmp_path / "drifted.parquet"
    drift = ["--drift", "new-pattern:from=5,cards=3", "--drift", "amount-shift:from=10,factor=2"]
    options = ["--start-date", "2021-06-01", "--label-delay-days", "3", "--label-jitter-days", "0"]
    code, out, error = _run(app, *SIZE, *options, *drift, "--radius", "8", "-o", str(output))
    assert code == 0, (out, error)
    config = CONFIG.model_copy(
        update={
            "start_date": pd.Timestamp("2021-06-01").date(),
            "label_delay_days": 3.0,
            "label_jitter_days": 0.0,
            "radius": 8.0,
            "drift": (parse_drift(drift[1]), parse_drift(drift[3])),
        }
    )
    pd.testing.assert_frame_equal(_read(output), simulate(config))
    assert (_read(output)[TX_FRAUD_SCENARIO] == 4).any()
    assert "injected new pattern " in out


@pytest.mark.parametrize("name", ["transactions.txt", "transactions.json", "transactions"])
def test_simulate_refuses_a_bad_suffix_without_writing(
    app: typer.Typer, tmp_path: Path, name: str
) -> None:
    code, _, error = _run(app, *SIZE, "--output", str(tmp_path / name))
    assert code != 0
    assert isinstance(error, ConfigError)
    assert ("has no suffix" if "." not in name else repr(Path(name).suffix)) in str(error)
    assert "*.parquet or *.csv" in str(error)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--customers", "0"], "--customers: Input should be greater than or equal to 1"),
        (["--radius", "-2"], "--radius: Input should be greater than 0"),
        (["--label-jitter-days", "-1"], "--label-jitter-days"),
        (["--start-date", "01/04/2018"], "--start-date '01/04/2018' is not a date"),
        (["--drift", "amount-shift:from=3,factr=2"], "factr: Extra inputs are not permitted"),
        (["--drift", "surge:from=3"], "unknown kind 'surge'"),
        (["--days", "10", "--drift", "new-pattern:from=12"], "from=12 is not a simulated day"),
    ],
)
def test_simulate_explains_a_bad_option(
    app: typer.Typer, tmp_path: Path, args: list[str], named: str
) -> None:
    output = tmp_path / "transactions.csv"
    code, _, error = _run(app, *args, "--output", str(output))
    assert code != 0
    assert isinstance(error, ConfigError)
    assert named in str(error)
    assert not output.exists()


def test_simulate_requires_an_output(app: typer.Typer) -> None:
    code, out, _ = _run(app, *SIZE)
    assert code == 2
    assert "--output" in out
