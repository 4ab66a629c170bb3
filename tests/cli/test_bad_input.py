"""Every kind of bad input, through the CLI: a specific message, a non-zero exit, no partial output."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from fraudstream.cli import main

pytestmark = pytest.mark.unit

OUTPUTS = ("data/processed/train.parquet", "data/features/reference_profile.json")


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as caught:
        main(list(args))
    return int(caught.value.code or 0), capsys.readouterr().err


def _drop_column(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=["Contract"])


def _extra_column(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(Region="north")


def _wrong_dtype(df: pd.DataFrame) -> pd.DataFrame:
    out = df.astype({"MonthlyCharges": "str"})
    out.loc[2, "MonthlyCharges"] = "cheap"
    return out


def _unknown_category(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out.loc[1, "InternetService"] = "Satellite"
    return out


def _out_of_range(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out.loc[3, "tenure"] = 999
    return out


def _duplicate_ids(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out.loc[5, "customerID"] = out.loc[4, "customerID"]
    return out


INVALID_DATA: dict[str, tuple[Callable[[pd.DataFrame], pd.DataFrame], tuple[str, ...]]] = {
    "missing column": (
        _drop_column,
        ("required column 'Contract' is missing", "add the column 'Contract'"),
    ),
    "extra column": (_extra_column, ("unexpected column 'Region'", "remove 'Region'")),
    "wrong dtype": (_wrong_dtype, ("'MonthlyCharges' must hold numbers", "'cheap' (row 3)")),
    "unknown category": (
        _unknown_category,
        ("column 'InternetService'", "'Satellite' (row 2)", "'Fiber optic'"),
    ),
    "out of range": (_out_of_range, ("column 'tenure'", "999 (row 4)", "within [0, 120]")),
    "duplicate ids": (_duplicate_ids, ("column 'customerID'", "duplicate", "must be unique")),
}


@pytest.fixture
def good_run(project: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, bytes]:
    """A successful pipeline run; returns the downstream outputs' bytes to compare against."""
    assert run_cli(capsys, "pipeline", "--data-only")[0] == 0
    return {name: (project / name).read_bytes() for name in OUTPUTS}


def _unchanged(project: Path, before: dict[str, bytes]) -> bool:
    leftovers = list(project.rglob("*.tmp"))
    return not leftovers and all(
        (project / name).read_bytes() == data for name, data in before.items()
    )


@pytest.mark.parametrize("case", list(INVALID_DATA))
def test_invalid_data_is_rejected_by_validate_and_nothing_downstream_changes(
    case: str,
    project: Path,
    good_run: dict[str, bytes],
    raw_customers: pd.DataFrame,
    capsys: pytest.CaptureFixture[str],
) -> None:
    corrupt, expected = INVALID_DATA[case]
    path = project / "bad.csv"
    corrupt(raw_customers.copy()).to_csv(path, index=False)
    assert run_cli(capsys, "ingest", "--source", str(path))[0] == 0
    code, err = run_cli(capsys, "validate")
    assert code == 5
    report = (project / "reports" / "validation.txt").read_text()
    for fragment in expected:
        assert fragment in err + report, fragment
    assert "Traceback" not in err
    assert run_cli(capsys, "preprocess")[0] == 6
    assert _unchanged(project, good_run)


def _write(path: Path, payload: bytes) -> str:
    path.write_bytes(payload)
    return str(path)


UNREADABLE_SOURCES: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    "empty file": (lambda d: ["--source", _write(d / "empty.csv", b"")], "is empty"),
    "header-only file": (
        lambda d: ["--source", _write(d / "header.csv", b"customerID,gender,Churn\n")],
        "has a header but no rows",
    ),
    "non-CSV bytes": (
        lambda d: ["--source", _write(d / "image.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")],
        "is binary, not CSV text",
    ),
    "wrong checksum": (
        lambda d: ["--source", _write(d / "ok.csv", b"a,b\n1,2\n"), "--sha256", "0" * 64],
        "is expected",
    ),
    "unreachable URL": (
        lambda _: ["--source", "http://127.0.0.1:9/telco.csv"],
        "--source synthetic",
    ),
    "bad SQL URL": (
        lambda _: [
            "--source",
            "postgresql+psycopg://user:pw@host:notaport/db",
            "--query",
            "SELECT 1",
        ],
        "not a valid SQLAlchemy URL",
    ),
    "unknown SQL dialect": (
        lambda _: ["--source", "nosuchdb://host/db", "--query", "SELECT 1"],
        "nosuchdb",
    ),
}


@pytest.mark.parametrize("case", list(UNREADABLE_SOURCES))
def test_unreadable_source_is_rejected_by_ingest_and_the_raw_data_is_kept(
    case: str,
    project: Path,
    good_run: dict[str, bytes],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FRAUDSTREAM_DATA_DOWNLOAD", '{"retries": 0, "timeout_seconds": 2}')
    raw_before = (project / "data" / "raw" / "customers.csv").read_bytes()
    manifest_before = (project / "data" / "raw" / "manifest.json").read_bytes()
    make_args, expected = UNREADABLE_SOURCES[case]
    code, err = run_cli(capsys, "ingest", *make_args(tmp_path))
    assert code == 4
    assert "error: " in err
    assert expected in err
    assert "Traceback" not in err
    assert (project / "data" / "raw" / "customers.csv").read_bytes() == raw_before
    assert (project / "data" / "raw" / "manifest.json").read_bytes() == manifest_before
    assert _unchanged(project, good_run)
