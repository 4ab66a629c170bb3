"""Tests of ingest_transactions: every source kind lands as data/raw/transactions.parquet plus
its provenance manifest.

A failed ingestion must leave the raw folder as it was: no new file, no temp file, and an earlier
raw file and manifest byte for byte intact. Tests that open a socket (loopback HTTP, PostgreSQL,
a closed port) are ``integration``; the rest are ``unit``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from fraudstream import __version__
from fraudstream.errors import (
    ChecksumMismatchError,
    IngestionError,
    PipelineStateError,
    SourceUnreachableError,
)
from fraudstream.io import sha256_file
from fraudstream.simulator import AmountShiftDrift, SimulatorConfig, simulate
from fraudstream.training import ingest as ingest_module
from fraudstream.training.config import DataSourceConfig, DownloadConfig
from fraudstream.training.ingest import ingest_transactions
from fraudstream.training.manifest import MANIFEST_NAME, RAW_FILE_NAME, read_manifest
from fraudstream.transactions.contract import (
    DATETIME_COLUMNS,
    FILE_COLUMNS,
    TRANSACTION_ID,
    TX_AMOUNT,
)
from fraudstream.transactions.validate import validate_transactions

FAST = DownloadConfig(timeout_seconds=5, retries=2, backoff_seconds=0.001)
TINY_SIMULATION = SimulatorConfig(customers=30, terminals=40, days=7, seed=3)
#: The simulator settings of an earlier, successful ingestion: tiny, and unlike any test's data.
PREVIOUS_SIMULATION = SimulatorConfig(customers=20, terminals=30, days=5, seed=1)
# A real PNG starts with its signature and the IHDR chunk, whose length field holds NUL bytes.
PNG_HEADER = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06\x00\x00\x00"
)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _raw(raw_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(raw_dir / RAW_FILE_NAME)


def _in_ns(frame: pd.DataFrame) -> pd.DataFrame:
    """Timestamps in nanoseconds (Parquet and databases may give microseconds)."""
    return frame.assign(**{c: frame[c].astype("datetime64[ns]") for c in DATETIME_COLUMNS})


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file in ``folder`` (hidden temp files included) with its bytes."""
    if not folder.exists():
        return {}
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def _assert_nothing_written(folder: Path) -> None:
    assert _snapshot(folder) == {}


def _assert_only_raw_and_manifest(folder: Path) -> None:
    assert sorted(_snapshot(folder)) == sorted([RAW_FILE_NAME, MANIFEST_NAME])


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    """The destination of ingestion (``data/raw``), not created yet."""
    return tmp_path / "data" / "raw"


@pytest.fixture
def previous_ingestion(raw_dir: Path) -> dict[str, bytes]:
    """An earlier successful (simulated) ingestion in ``raw_dir``; returns its files' bytes."""
    ingest_transactions("simulator", raw_dir, simulator=PREVIOUS_SIMULATION)
    return _snapshot(raw_dir)


@pytest.fixture
def served_csv(transactions_csv: Path) -> bytes:
    """The simulated transactions' CSV bytes, as served over HTTP."""
    return transactions_csv.read_bytes()


@pytest.fixture
def transactions_parquet(tmp_path: Path, transactions: pd.DataFrame) -> Path:
    """The simulated transactions written as a Parquet file."""
    path = tmp_path / "input" / "transactions.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    transactions.to_parquet(path, index=False)
    return path


@pytest.fixture
def unreadable_file(transactions_csv: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The transactions CSV with no read permission for this user.

    As root the permission bits do not stop reading, so there the copy is made to fail the way
    the operating system would fail it for anyone else.
    """
    transactions_csv.chmod(0)
    if os.access(transactions_csv, os.R_OK):

        def denied(source: object, target: object) -> None:
            raise PermissionError(13, "Permission denied", str(source))

        monkeypatch.setattr(ingest_module.shutil, "copyfile", denied)
    yield transactions_csv
    transactions_csv.chmod(0o644)


# --- URL sources -----------------------------------------------------------------------------


@pytest.mark.integration
def test_ingest_of_a_url_with_its_checksum_writes_its_table_and_a_full_manifest(
    http_server, raw_dir, served_csv, transactions_csv
):
    url = http_server.serve("/transactions.csv", served_csv)
    config = DataSourceConfig(source=url, checksums={url: _sha256(served_csv)}, download=FAST)

    manifest = ingest_transactions(url, raw_dir, config)

    expected = pd.read_csv(transactions_csv)
    pd.testing.assert_frame_equal(_raw(raw_dir), expected)
    assert manifest.sha256 == sha256_file(raw_dir / RAW_FILE_NAME)
    assert manifest.details["source_sha256"] == _sha256(served_csv)
    assert manifest.checksum_verified is True
    assert manifest.source == url
    assert manifest.source_kind == "url"
    assert manifest.file == RAW_FILE_NAME
    assert manifest.rows == len(expected)
    assert manifest.columns == list(FILE_COLUMNS)
    assert manifest.bytes == (raw_dir / RAW_FILE_NAME).stat().st_size
    assert manifest.fraudstream_version == __version__
    assert read_manifest(raw_dir) == manifest
    _assert_only_raw_and_manifest(raw_dir)


@pytest.mark.integration
def test_ingest_of_a_url_without_a_configured_checksum_is_not_marked_verified(
    http_server, raw_dir, served_csv
):
    url = http_server.serve("/transactions.csv", served_csv)

    manifest = ingest_transactions(url, raw_dir, DataSourceConfig(source=url, download=FAST))

    assert manifest.checksum_verified is False
    assert manifest.details["source_sha256"] == _sha256(served_csv)


@pytest.mark.integration
@pytest.mark.parametrize("path", ["/transactions.parquet", "/transactions.PARQUET?version=2"])
def test_ingest_of_a_parquet_url_reads_it_as_parquet(
    http_server, raw_dir, transactions_parquet, transactions, path
):
    http_server.serve(path.split("?")[0], transactions_parquet.read_bytes())
    url = http_server.url(path)

    manifest = ingest_transactions(url, raw_dir, DataSourceConfig(source=url, download=FAST))

    pd.testing.assert_frame_equal(_in_ns(_raw(raw_dir)), transactions)
    assert manifest.details["source_sha256"] == sha256_file(transactions_parquet)


@pytest.mark.integration
def test_ingest_rejects_a_wrong_checksum_naming_both_digests_and_writes_nothing(
    http_server, raw_dir, served_csv
):
    url = http_server.serve("/transactions.csv", served_csv)
    expected = _sha256(b"some other version of the file")
    config = DataSourceConfig(source=url, checksums={url: expected}, download=FAST)

    with pytest.raises(ChecksumMismatchError) as caught:
        ingest_transactions(url, raw_dir, config)

    assert expected in str(caught.value)
    assert _sha256(served_csv) in str(caught.value)
    _assert_nothing_written(raw_dir)


@pytest.mark.integration
def test_ingest_rejects_a_wrong_checksum_and_keeps_the_previous_file(
    http_server, raw_dir, served_csv, previous_ingestion
):
    url = http_server.serve("/transactions.csv", served_csv)
    config = DataSourceConfig(source=url, checksums={url: _sha256(b"other")}, download=FAST)

    with pytest.raises(ChecksumMismatchError):
        ingest_transactions(url, raw_dir, config)

    assert _snapshot(raw_dir) == previous_ingestion
    assert not list(raw_dir.glob(".*"))


@pytest.mark.integration
def test_ingest_of_a_missing_url_fails_at_once_and_keeps_the_previous_file(
    http_server, raw_dir, previous_ingestion
):
    url = http_server.url("/missing.csv")
    config = DataSourceConfig(source=url, download=DownloadConfig(retries=5, backoff_seconds=0.01))

    with pytest.raises(IngestionError, match="answered HTTP 404") as caught:
        ingest_transactions(url, raw_dir, config)

    assert not isinstance(caught.value, SourceUnreachableError)
    assert http_server.hits["/missing.csv"] == 1
    assert _snapshot(raw_dir) == previous_ingestion


@pytest.mark.integration
def test_ingest_of_a_url_succeeds_after_a_503_retry(http_server, raw_dir, served_csv, transactions):
    url = http_server.serve("/transactions.csv", b"Service Unavailable", status=503)
    http_server.serve("/transactions.csv", served_csv)

    manifest = ingest_transactions(url, raw_dir, DataSourceConfig(source=url, download=FAST))

    assert http_server.hits["/transactions.csv"] == 2
    assert manifest.rows == len(transactions)
    assert manifest.details["source_sha256"] == _sha256(served_csv)


@pytest.mark.integration
def test_ingest_of_a_url_that_drops_the_connection_retries_and_keeps_the_whole_table(
    http_server, raw_dir, served_csv, transactions
):
    url = http_server.serve("/transactions.csv", served_csv, cut_after=len(served_csv) // 2)
    http_server.serve("/transactions.csv", served_csv)

    manifest = ingest_transactions(url, raw_dir, DataSourceConfig(source=url, download=FAST))

    assert http_server.hits["/transactions.csv"] == 2
    assert manifest.rows == len(transactions)
    assert manifest.details["source_sha256"] == _sha256(served_csv)


@pytest.mark.integration
def test_ingest_of_a_url_that_never_answers_times_out_and_keeps_the_previous_file(
    http_server, raw_dir, previous_ingestion
):
    url = http_server.serve("/slow.csv", stall=True)
    impatient = DownloadConfig(timeout_seconds=0.2, retries=1, backoff_seconds=0)

    with pytest.raises(SourceUnreachableError, match="ReadTimeout"):
        ingest_transactions(url, raw_dir, DataSourceConfig(source=url, download=impatient))

    assert http_server.hits["/slow.csv"] == 2
    assert _snapshot(raw_dir) == previous_ingestion


@pytest.mark.integration
def test_ingest_of_a_url_above_the_size_limit_keeps_the_previous_file(
    http_server, raw_dir, served_csv, previous_ingestion
):
    url = http_server.serve("/transactions.csv", served_csv)
    limit = DownloadConfig(timeout_seconds=5, retries=2, max_megabytes=len(served_csv) / 2**21)

    with pytest.raises(IngestionError, match=r"larger than data\.download\.max_megabytes"):
        ingest_transactions(url, raw_dir, DataSourceConfig(source=url, download=limit))

    assert http_server.hits["/transactions.csv"] == 1
    assert _snapshot(raw_dir) == previous_ingestion


@pytest.mark.integration
def test_ingest_of_an_unreachable_url_names_it_and_both_ways_out(closed_port, raw_dir):
    url = f"http://127.0.0.1:{closed_port}/transactions.csv"
    config = DataSourceConfig(source=url, download=DownloadConfig(retries=1, backoff_seconds=0))

    with pytest.raises(SourceUnreachableError) as caught:
        ingest_transactions(url, raw_dir, config)

    message = str(caught.value)
    assert url in message
    assert "--source PATH" in message
    assert "--source simulator" in message
    _assert_nothing_written(raw_dir)


@pytest.mark.integration
def test_ingest_of_a_url_reports_growing_byte_counts(http_server, raw_dir, served_csv):
    url = http_server.serve("/transactions.csv", served_csv)
    calls: list[tuple[int, int | None]] = []

    ingest_transactions(
        url,
        raw_dir,
        DataSourceConfig(source=url, download=FAST),
        progress=lambda done, total: calls.append((done, total)),
    )

    done = [d for d, _ in calls]
    assert len(done) >= 2
    assert all(a < b for a, b in itertools.pairwise(done))
    assert done[-1] == len(served_csv)
    assert {total for _, total in calls} == {len(served_csv)}


@pytest.mark.integration
def test_ingest_of_a_url_serving_an_empty_body_names_the_url_and_keeps_the_previous_file(
    http_server, raw_dir, previous_ingestion
):
    url = http_server.serve("/empty.csv", b"")

    with pytest.raises(IngestionError, match=f"^{re.escape(url)} is empty"):
        ingest_transactions(url, raw_dir, DataSourceConfig(source=url, download=FAST))

    assert _snapshot(raw_dir) == previous_ingestion


@pytest.mark.integration
def test_ingest_of_a_url_with_credentials_never_writes_or_shows_the_password(
    http_server, raw_dir, served_csv
):
    http_server.serve("/transactions.csv", served_csv)
    url = http_server.url("/transactions.csv", userinfo="analyst:s3cret@")

    manifest = ingest_transactions(url, raw_dir, DataSourceConfig(source=url, download=FAST))

    assert "s3cret" not in manifest.source
    assert "analyst:***@" in manifest.source
    assert "s3cret" not in (raw_dir / MANIFEST_NAME).read_text()


@pytest.mark.integration
def test_ingest_checksum_error_of_a_url_with_credentials_hides_the_password(
    http_server, raw_dir, served_csv
):
    http_server.serve("/transactions.csv", served_csv)
    url = http_server.url("/transactions.csv", userinfo="analyst:s3cret@")
    config = DataSourceConfig(source=url, checksums={url: _sha256(b"other")}, download=FAST)

    with pytest.raises(ChecksumMismatchError) as caught:
        ingest_transactions(url, raw_dir, config)

    assert "s3cret" not in str(caught.value)
    assert "analyst:***@" in str(caught.value)


# --- file sources ----------------------------------------------------------------------------


@pytest.mark.unit
def test_ingest_of_a_csv_file_stores_its_table_as_parquet(transactions_csv, raw_dir):
    manifest = ingest_transactions(str(transactions_csv), raw_dir)

    expected = pd.read_csv(transactions_csv)
    pd.testing.assert_frame_equal(_raw(raw_dir), expected)
    assert manifest.details == {"source_sha256": _sha256(transactions_csv.read_bytes())}
    assert manifest.source_kind == "file"
    assert manifest.source == str(transactions_csv)
    assert manifest.rows == len(expected)
    assert manifest.checksum_verified is False
    _assert_only_raw_and_manifest(raw_dir)


@pytest.mark.unit
def test_ingest_of_a_csv_file_passes_validation_with_the_simulated_values(
    transactions_csv, raw_dir, transactions
):
    ingest_transactions(str(transactions_csv), raw_dir)

    result = validate_transactions(_raw(raw_dir))

    assert result.report.passed, result.report.failures
    assert result.frame is not None
    pd.testing.assert_frame_equal(_in_ns(result.frame), transactions, check_dtype=False)


@pytest.mark.unit
def test_ingest_reads_a_csv_file_with_windows_line_endings_as_the_same_table(
    transactions_csv, tmp_path
):
    crlf = tmp_path / "crlf.csv"
    crlf.write_bytes(transactions_csv.read_bytes().replace(b"\n", b"\r\n"))

    unix = ingest_transactions(str(transactions_csv), tmp_path / "unix")
    windows = ingest_transactions(str(crlf), tmp_path / "windows")

    assert windows.details["source_sha256"] != unix.details["source_sha256"]
    pd.testing.assert_frame_equal(_raw(tmp_path / "windows"), _raw(tmp_path / "unix"))


@pytest.mark.unit
def test_ingest_keeps_bad_values_for_validation_to_report(transactions, tmp_path, raw_dir):
    source = tmp_path / "transactions.csv"
    broken = transactions.astype({TX_AMOUNT: object})
    broken.loc[3, TX_AMOUNT] = "twelve"
    broken.to_csv(source, index=False)

    manifest = ingest_transactions(str(source), raw_dir)

    assert manifest.rows == len(transactions)
    assert _raw(raw_dir)[TX_AMOUNT].iloc[3] == "twelve"
    assert validate_transactions(_raw(raw_dir)).report.passed is False


@pytest.mark.unit
def test_ingest_verifies_a_configured_checksum_of_a_csv_file(transactions_csv, raw_dir):
    source = str(transactions_csv)
    config = DataSourceConfig(checksums={source: _sha256(transactions_csv.read_bytes())})

    assert ingest_transactions(source, raw_dir, config).checksum_verified is True


@pytest.mark.unit
def test_ingest_rejects_a_csv_file_with_a_wrong_checksum_and_keeps_the_previous_file(
    transactions_csv, raw_dir, previous_ingestion
):
    source = str(transactions_csv)
    config = DataSourceConfig(checksums={source: _sha256(b"other")})

    with pytest.raises(ChecksumMismatchError, match=_sha256(transactions_csv.read_bytes())):
        ingest_transactions(source, raw_dir, config)

    assert _snapshot(raw_dir) == previous_ingestion


@pytest.mark.unit
@pytest.mark.parametrize("suffix", [".parquet", ".PARQUET"])
def test_ingest_of_a_parquet_file_keeps_its_table_and_types(
    tmp_path, raw_dir, transactions, suffix
):
    source = tmp_path / f"transactions{suffix}"
    transactions.to_parquet(source, index=False)

    manifest = ingest_transactions(str(source), raw_dir)

    pd.testing.assert_frame_equal(_in_ns(_raw(raw_dir)), transactions)
    assert manifest.rows == len(transactions)
    assert manifest.source_kind == "file"
    assert manifest.sha256 == sha256_file(raw_dir / RAW_FILE_NAME)
    assert manifest.details["source_sha256"] == sha256_file(source)


@pytest.mark.unit
def test_ingest_verifies_the_checksum_of_the_parquet_file_itself(transactions_parquet, raw_dir):
    source = str(transactions_parquet)
    config = DataSourceConfig(checksums={source: sha256_file(transactions_parquet)})

    assert ingest_transactions(source, raw_dir, config).checksum_verified is True


@pytest.mark.unit
def test_ingest_rejects_a_corrupt_parquet_file_and_keeps_the_previous_file(
    tmp_path, raw_dir, previous_ingestion
):
    source = tmp_path / "transactions.parquet"
    source.write_text("TRANSACTION_ID,TX_AMOUNT\n0,12.5\n")

    with pytest.raises(IngestionError, match="is not a readable Parquet file") as caught:
        ingest_transactions(str(source), raw_dir)

    assert str(caught.value).startswith(f"{source} ")  # the source, not the hidden temp copy
    assert _snapshot(raw_dir) == previous_ingestion


@pytest.mark.unit
def test_ingest_rejects_a_parquet_file_without_rows(tmp_path, raw_dir, transactions):
    source = tmp_path / "transactions.parquet"
    transactions.head(0).to_parquet(source, index=False)

    with pytest.raises(IngestionError, match="gave no rows"):
        ingest_transactions(str(source), raw_dir)

    _assert_nothing_written(raw_dir)


@pytest.mark.unit
def test_ingest_of_a_missing_file_names_the_path(tmp_path, raw_dir):
    missing = tmp_path / "nowhere" / "transactions.csv"

    with pytest.raises(IngestionError, match="does not exist") as caught:
        ingest_transactions(str(missing), raw_dir)

    assert str(missing) in str(caught.value)
    _assert_nothing_written(raw_dir)


@pytest.mark.unit
def test_ingest_explains_that_a_folder_is_not_a_file(tmp_path, raw_dir, previous_ingestion):
    folder = tmp_path / "exports"
    folder.mkdir()

    with pytest.raises(IngestionError, match="is a folder") as caught:
        ingest_transactions(str(folder), raw_dir)

    assert str(folder) in str(caught.value)
    assert _snapshot(raw_dir) == previous_ingestion


@pytest.mark.unit
def test_ingest_of_an_unreadable_file_says_permission_denied_and_keeps_the_previous_file(
    unreadable_file, raw_dir, previous_ingestion
):
    with pytest.raises(IngestionError, match="permission denied") as caught:
        ingest_transactions(str(unreadable_file), raw_dir)

    assert str(unreadable_file) in str(caught.value)
    assert _snapshot(raw_dir) == previous_ingestion


@pytest.mark.unit
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"  \n\r\n\t\n", "is empty"),
        (b"TRANSACTION_ID,TX_DATETIME,TX_AMOUNT\n", "gave no rows"),
        (bytes(range(256)) * 8, "is binary, not CSV text"),
        (PNG_HEADER + b"\x00" * 64, "is binary, not CSV text"),
        (b"PAR1" + b"x" * 64, "is binary, not CSV text"),
        (b"TRANSACTION_ID,TERMINAL_NAME\n0,Caf\xe9 M\xfcller\n", "not readable as UTF-8 CSV"),
    ],
    ids=[
        "empty",
        "blank-lines",
        "header-only",
        "random-binary",
        "png",
        "parquet-as-csv",
        "latin-1",
    ],
)
def test_ingest_rejects_a_file_that_holds_no_csv_table(
    tmp_path, raw_dir, previous_ingestion, content, message
):
    source = tmp_path / "transactions.csv"
    source.write_bytes(content)

    with pytest.raises(IngestionError, match=message) as caught:
        ingest_transactions(str(source), raw_dir)

    assert str(caught.value).startswith(f"{source} ")  # the source, not the hidden temp copy
    assert _snapshot(raw_dir) == previous_ingestion


@pytest.mark.unit
@pytest.mark.parametrize(
    "content",
    [b"", b"TRANSACTION_ID,TX_AMOUNT\n", PNG_HEADER],
    ids=["empty", "header-only", "png"],
)
def test_ingest_of_an_unusable_file_into_an_empty_folder_writes_nothing(tmp_path, raw_dir, content):
    source = tmp_path / "transactions.csv"
    source.write_bytes(content)

    with pytest.raises(IngestionError):
        ingest_transactions(str(source), raw_dir)

    _assert_nothing_written(raw_dir)


@pytest.mark.unit
def test_manifest_notes_a_local_copy_of_a_pinned_source(transactions_csv, raw_dir):
    pinned = "https://example.org/transactions.csv"
    config = DataSourceConfig(checksums={pinned: _sha256(transactions_csv.read_bytes())})

    manifest = ingest_transactions(str(transactions_csv), raw_dir, config)

    assert manifest.checksum_verified is False
    assert manifest.details["same_bytes_as"] == pinned


# --- the simulator source --------------------------------------------------------------------


@pytest.mark.unit
def test_ingest_of_the_simulator_stores_its_frame_and_records_its_settings(raw_dir):
    manifest = ingest_transactions("simulator", raw_dir, simulator=TINY_SIMULATION)

    expected = simulate(TINY_SIMULATION)
    pd.testing.assert_frame_equal(_in_ns(_raw(raw_dir)), expected)
    assert manifest.rows == len(expected)
    assert manifest.source == "simulator"
    assert manifest.source_kind == "simulator"
    assert manifest.checksum_verified is False
    assert manifest.columns == list(FILE_COLUMNS)
    assert manifest.details["simulator_seed"] == 3
    assert manifest.details["simulator_customers"] == 30
    assert manifest.details["simulator_terminals"] == 40
    assert manifest.details["simulator_days"] == 7
    assert manifest.details["simulator_start_date"] == "2018-04-01"


@pytest.mark.unit
def test_ingest_of_the_simulator_records_its_drift_specs_as_json(raw_dir):
    drifting = TINY_SIMULATION.model_copy(
        update={"drift": (AmountShiftDrift(from_day=3, factor=2.0),)}
    )

    manifest = ingest_transactions("simulator", raw_dir, simulator=drifting)

    recorded = json.loads(str(manifest.details["simulator_drift"]))
    assert recorded == [{"from_day": 3, "days": None, "kind": "amount-shift", "factor": 2.0}]


@pytest.mark.unit
def test_ingest_of_the_simulator_passes_validation(raw_dir):
    ingest_transactions("simulator", raw_dir, simulator=TINY_SIMULATION)

    assert validate_transactions(_raw(raw_dir)).report.passed is True


@pytest.mark.unit
def test_ingest_of_the_simulator_is_reproducible_from_the_seed(tmp_path):
    def digest(seed: int, folder: str) -> str:
        simulator = TINY_SIMULATION.model_copy(update={"seed": seed})
        return ingest_transactions("simulator", tmp_path / folder, simulator=simulator).sha256

    assert digest(5, "a") == digest(5, "b")
    assert digest(5, "a") != digest(6, "c")


@pytest.mark.unit
def test_ingest_replaces_an_earlier_raw_file_and_manifest(raw_dir, previous_ingestion):
    manifest = ingest_transactions("simulator", raw_dir, simulator=TINY_SIMULATION)

    assert read_manifest(raw_dir) == manifest
    assert manifest.rows == len(simulate(TINY_SIMULATION)) != len(simulate(PREVIOUS_SIMULATION))
    assert _snapshot(raw_dir)[RAW_FILE_NAME] != previous_ingestion[RAW_FILE_NAME]
    assert _snapshot(raw_dir)[MANIFEST_NAME] != previous_ingestion[MANIFEST_NAME]
    _assert_only_raw_and_manifest(raw_dir)


@pytest.mark.unit
def test_a_failure_while_writing_the_raw_file_leaves_the_previous_pair_intact(
    transactions_csv, raw_dir, previous_ingestion, monkeypatch
):
    def disk_full(frame: pd.DataFrame, path: Path) -> None:
        path.write_bytes(b"PAR1 half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ingest_module, "_write_parquet", disk_full)

    with pytest.raises(OSError, match="No space left on device"):
        ingest_transactions(str(transactions_csv), raw_dir)

    assert _snapshot(raw_dir) == previous_ingestion


# --- SQL sources -----------------------------------------------------------------------------


@pytest.mark.unit
def test_ingest_of_a_sqlite_table_keeps_rows_and_columns(sqlite_url, raw_dir, transactions):
    manifest = ingest_transactions(sqlite_url, raw_dir, DataSourceConfig(sql_table="transactions"))

    written = _raw(raw_dir)
    assert list(written.columns) == list(FILE_COLUMNS)
    assert written[TRANSACTION_ID].tolist() == transactions[TRANSACTION_ID].tolist()
    assert validate_transactions(written).report.passed is True
    assert manifest.source_kind == "sql"
    assert manifest.rows == len(transactions)
    assert manifest.details == {"sql_query": None, "sql_table": "transactions"}


@pytest.mark.unit
def test_ingest_of_a_sqlite_column_mixing_numbers_and_text_keeps_it_as_text(tmp_path, raw_dir):
    database = tmp_path / "mixed.sqlite"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE tx (TRANSACTION_ID INTEGER, TX_AMOUNT)")
        connection.executemany("INSERT INTO tx VALUES (?, ?)", [(0, 12.5), (1, "n/a"), (2, 7)])
    connection.close()

    manifest = ingest_transactions(
        f"sqlite:///{database}", raw_dir, DataSourceConfig(sql_table="tx")
    )

    assert manifest.rows == 3
    assert _raw(raw_dir)[TX_AMOUNT].tolist() == ["12.5", "n/a", "7"]


@pytest.mark.unit
def test_ingest_of_a_sql_source_without_query_or_table_says_how_to_fix_it(sqlite_url, raw_dir):
    with pytest.raises(IngestionError, match=r"pass --query .* or --table"):
        ingest_transactions(sqlite_url, raw_dir, DataSourceConfig())

    _assert_nothing_written(raw_dir)


@pytest.mark.unit
def test_ingest_of_a_malformed_sql_url_says_it_is_not_a_valid_sqlalchemy_url(raw_dir):
    url = "postgresql+psycopg://user:secret@host:notaport/db"

    with pytest.raises(IngestionError, match="not a valid SQLAlchemy URL") as caught:
        ingest_transactions(url, raw_dir, DataSourceConfig(sql_query="SELECT 1"))

    assert "secret" not in str(caught.value)
    _assert_nothing_written(raw_dir)


@pytest.mark.unit
def test_ingest_of_an_unknown_dialect_names_it(raw_dir):
    with pytest.raises(IngestionError, match="'nosuchdb'"):
        ingest_transactions("nosuchdb://x/y", raw_dir, DataSourceConfig(sql_query="SELECT 1"))

    _assert_nothing_written(raw_dir)


@pytest.mark.integration
def test_ingest_of_a_postgres_query_round_trips_and_passes_validation(
    postgres_url, postgres_table, raw_dir, transactions
):
    query = f'SELECT * FROM {postgres_table} ORDER BY "{TRANSACTION_ID}"'  # noqa: S608 - our own name

    manifest = ingest_transactions(postgres_url, raw_dir, DataSourceConfig(sql_query=query))

    written = _raw(raw_dir)
    pd.testing.assert_frame_equal(_in_ns(written), transactions)
    assert validate_transactions(written).report.passed is True
    assert manifest.rows == len(transactions)
    assert manifest.columns == list(FILE_COLUMNS)
    assert manifest.source_kind == "sql"
    assert manifest.details == {"sql_query": query, "sql_table": None}


@pytest.mark.integration
@pytest.mark.parametrize("qualified", [False, True], ids=["bare", "schema-qualified"])
def test_ingest_of_a_postgres_table_round_trips_rows_and_columns(
    postgres_url, postgres_table, raw_dir, transactions, qualified
):
    table = f"public.{postgres_table}" if qualified else postgres_table

    manifest = ingest_transactions(postgres_url, raw_dir, DataSourceConfig(sql_table=table))

    written = _in_ns(_raw(raw_dir)).sort_values(TRANSACTION_ID, ignore_index=True)
    pd.testing.assert_frame_equal(written, transactions)
    assert manifest.rows == len(transactions)
    assert manifest.details["sql_table"] == table


@pytest.mark.integration
def test_ingest_manifest_hides_the_database_password(postgres_url, postgres_table, raw_dir):
    with_password = sa.make_url(postgres_url).set(password="secret")  # noqa: S106 - a test value
    url = with_password.render_as_string(hide_password=False)

    try:
        manifest = ingest_transactions(url, raw_dir, DataSourceConfig(sql_table=postgres_table))
    except SourceUnreachableError:
        pytest.skip("the test database does not accept an arbitrary password")

    assert "secret" not in manifest.source
    assert ":***@" in manifest.source
    assert "secret" not in (raw_dir / MANIFEST_NAME).read_text()


@pytest.mark.integration
def test_ingest_of_a_postgres_query_with_no_rows_fails_and_keeps_the_previous_file(
    postgres_url, postgres_table, raw_dir, previous_ingestion
):
    query = f"SELECT * FROM {postgres_table} WHERE false"  # noqa: S608 - our own name

    with pytest.raises(IngestionError, match="gave no rows"):
        ingest_transactions(postgres_url, raw_dir, DataSourceConfig(sql_query=query))

    assert _snapshot(raw_dir) == previous_ingestion


@pytest.mark.integration
def test_ingest_of_a_missing_postgres_table_names_the_problem_and_keeps_the_previous_file(
    postgres_url, raw_dir, previous_ingestion
):
    config = DataSourceConfig(sql_table="fraudstream_no_such_table")

    with pytest.raises(IngestionError, match='relation "fraudstream_no_such_table" does not exist'):
        ingest_transactions(postgres_url, raw_dir, config)

    assert _snapshot(raw_dir) == previous_ingestion


@pytest.mark.integration
def test_ingest_of_a_postgres_query_error_is_the_querys_fault(postgres_url, raw_dir):
    with pytest.raises(IngestionError, match='syntax error at or near "SELEC"') as caught:
        ingest_transactions(postgres_url, raw_dir, DataSourceConfig(sql_query="SELEC 1"))

    assert not isinstance(caught.value, SourceUnreachableError)
    _assert_nothing_written(raw_dir)


@pytest.mark.integration
def test_ingest_of_an_unreachable_database_hides_the_password_and_keeps_the_previous_file(
    raw_dir, previous_ingestion
):
    url = "postgresql+psycopg://postgres:secret@127.0.0.1:1/test"

    with pytest.raises(SourceUnreachableError) as caught:
        ingest_transactions(url, raw_dir, DataSourceConfig(sql_query="SELECT 1"))

    assert "secret" not in str(caught.value)
    assert "127.0.0.1:1" in str(caught.value)
    assert _snapshot(raw_dir) == previous_ingestion


# --- the manifest ----------------------------------------------------------------------------


@pytest.mark.unit
def test_read_manifest_before_any_ingestion_says_to_ingest_first(raw_dir):
    with pytest.raises(PipelineStateError, match="run `fraudstream ingest` first"):
        read_manifest(raw_dir)


@pytest.mark.unit
def test_read_manifest_rejects_a_damaged_manifest(raw_dir, previous_ingestion):
    (raw_dir / MANIFEST_NAME).write_text('{"source": "simulator"')

    with pytest.raises(PipelineStateError, match="not a valid ingestion manifest"):
        read_manifest(raw_dir)


@pytest.mark.unit
def test_the_manifest_on_disk_is_indented_json_matching_the_raw_file(raw_dir, previous_ingestion):
    text = (raw_dir / MANIFEST_NAME).read_text()
    recorded = json.loads(text)

    assert text.startswith('{\n  "source"')
    assert recorded["sha256"] == sha256_file(raw_dir / RAW_FILE_NAME)
    assert recorded["bytes"] == (raw_dir / RAW_FILE_NAME).stat().st_size
    assert recorded["rows"] == len(_raw(raw_dir))
