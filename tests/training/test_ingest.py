"""Tests of ingest_data: every source kind lands as data/raw/customers.csv plus its manifest.

A failed ingestion must leave the raw folder as it was: no new file, no temp file, and an earlier
raw file and manifest byte for byte intact. Tests that open a socket (loopback HTTP, PostgreSQL)
or read the real Telco file are ``integration``; the rest are ``unit``.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from pathlib import Path

import pandas as pd
import pytest

from fraudstream import __version__
from fraudstream.data.config import (
    DEFAULT_SOURCE_SHA256,
    DataSourceConfig,
    DownloadConfig,
    SyntheticConfig,
)
from fraudstream.data.ingest import ingest_data, read_raw
from fraudstream.data.manifest import MANIFEST_NAME, RAW_FILE_NAME, read_manifest
from fraudstream.data.synthetic import generate_customers
from fraudstream.data.validate import validate_data
from fraudstream.errors import ChecksumMismatchError, IngestionError, SourceUnreachableError

FAST = DownloadConfig(timeout_seconds=5, retries=2, backoff_seconds=0.001)
REAL_ROWS = 7043
# A real PNG starts with its signature and the IHDR chunk, whose length field holds NUL bytes.
PNG_HEADER = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06\x00\x00\x00"
)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file in ``folder`` (hidden temp files included) with its bytes."""
    if not folder.exists():
        return {}
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def _assert_nothing_written(folder: Path) -> None:
    assert _snapshot(folder) == {}


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    """The destination of ingestion (data/raw), not created yet."""
    return tmp_path / "data" / "raw"


@pytest.fixture
def served_csv(raw_csv: Path) -> bytes:
    """The synthetic customers' CSV bytes, as served over HTTP."""
    return raw_csv.read_bytes()


@pytest.fixture
def previous_ingestion(raw_dir: Path) -> dict[str, bytes]:
    """An earlier successful (synthetic) ingestion in ``raw_dir``; returns its files' bytes."""
    ingest_data("synthetic", raw_dir, DataSourceConfig(synthetic=SyntheticConfig(n_rows=120)))
    return _snapshot(raw_dir)


# --- URL sources -----------------------------------------------------------------------------


@pytest.mark.integration
def test_ingest_of_a_url_with_its_checksum_writes_the_served_bytes_and_a_full_manifest(
    http_server, raw_dir, served_csv, raw_customers
):
    url = http_server.serve("/telco.csv", served_csv)
    config = DataSourceConfig(source=url, checksums={url: _sha256(served_csv)}, download=FAST)

    manifest = ingest_data(url, raw_dir, config)

    assert (raw_dir / RAW_FILE_NAME).read_bytes() == served_csv
    assert manifest.sha256 == _sha256(served_csv)
    assert manifest.checksum_verified is True
    assert manifest.source == url
    assert manifest.source_kind == "url"
    assert manifest.file == RAW_FILE_NAME
    assert manifest.rows == len(raw_customers) == 400
    assert manifest.columns == list(raw_customers.columns)
    assert manifest.bytes == len(served_csv)
    assert manifest.fraudstream_version == __version__
    assert read_manifest(raw_dir) == manifest
    assert sorted(_snapshot(raw_dir)) == [RAW_FILE_NAME, MANIFEST_NAME]


@pytest.mark.integration
def test_ingest_of_a_url_without_a_configured_checksum_is_not_marked_verified(
    http_server, raw_dir, served_csv
):
    url = http_server.serve("/telco.csv", served_csv)

    manifest = ingest_data(url, raw_dir, DataSourceConfig(source=url, download=FAST))

    assert manifest.checksum_verified is False
    assert manifest.sha256 == _sha256(served_csv)


@pytest.mark.integration
def test_ingest_rejects_a_wrong_checksum_naming_both_digests_and_writes_nothing(
    http_server, raw_dir, served_csv
):
    url = http_server.serve("/telco.csv", served_csv)
    expected = _sha256(b"some other version of the file")
    config = DataSourceConfig(source=url, checksums={url: expected}, download=FAST)

    with pytest.raises(ChecksumMismatchError) as caught:
        ingest_data(url, raw_dir, config)

    assert expected in str(caught.value)
    assert _sha256(served_csv) in str(caught.value)
    _assert_nothing_written(raw_dir)


@pytest.mark.integration
def test_ingest_rejects_wrong_checksum_and_keeps_previous_file(
    http_server, raw_dir, served_csv, previous_ingestion
):
    url = http_server.serve("/telco.csv", served_csv)
    config = DataSourceConfig(source=url, checksums={url: _sha256(b"other")}, download=FAST)

    with pytest.raises(ChecksumMismatchError):
        ingest_data(url, raw_dir, config)

    assert _snapshot(raw_dir) == previous_ingestion
    assert not list(raw_dir.glob(".customers.csv.*.tmp"))
    assert not list(raw_dir.glob(".*.tmp"))


@pytest.mark.integration
def test_ingest_of_a_missing_url_fails_at_once_and_keeps_previous_file(
    http_server, raw_dir, previous_ingestion
):
    url = http_server.url("/missing.csv")
    config = DataSourceConfig(source=url, download=DownloadConfig(retries=5, backoff_seconds=0.01))

    with pytest.raises(IngestionError, match="answered HTTP 404") as caught:
        ingest_data(url, raw_dir, config)

    assert not isinstance(caught.value, SourceUnreachableError)
    assert http_server.hits["/missing.csv"] == 1
    assert _snapshot(raw_dir) == previous_ingestion


@pytest.mark.integration
def test_ingest_of_a_url_succeeds_after_a_503_retry(http_server, raw_dir, served_csv):
    url = http_server.serve("/telco.csv", b"Service Unavailable", status=503)
    http_server.serve("/telco.csv", served_csv)

    manifest = ingest_data(url, raw_dir, DataSourceConfig(source=url, download=FAST))

    assert http_server.hits["/telco.csv"] == 2
    assert manifest.rows == 400
    assert (raw_dir / RAW_FILE_NAME).read_bytes() == served_csv


@pytest.mark.integration
def test_ingest_of_an_unreachable_url_names_it_and_both_ways_out(closed_port, raw_dir):
    url = f"http://127.0.0.1:{closed_port}/x.csv"
    config = DataSourceConfig(source=url, download=DownloadConfig(retries=1, backoff_seconds=0))

    with pytest.raises(SourceUnreachableError) as caught:
        ingest_data(url, raw_dir, config)

    message = str(caught.value)
    assert url in message
    assert "--source PATH" in message
    assert "--source synthetic" in message
    _assert_nothing_written(raw_dir)


@pytest.mark.integration
def test_ingest_of_a_url_reports_growing_byte_counts(http_server, raw_dir):
    body = generate_customers(2000, seed=1).to_csv(index=False).encode()
    url = http_server.serve("/big.csv", body)
    calls: list[tuple[int, int | None]] = []

    ingest_data(
        url,
        raw_dir,
        DataSourceConfig(source=url, download=FAST),
        lambda done, total: calls.append((done, total)),
    )

    done = [d for d, _ in calls]
    assert len(done) >= 2
    assert all(a < b for a, b in itertools.pairwise(done))
    assert done[-1] == len(body)
    assert {total for _, total in calls} == {len(body)}


@pytest.mark.integration
def test_ingest_of_a_url_serving_an_empty_body_names_the_url_and_keeps_previous_file(
    http_server, raw_dir, previous_ingestion
):
    url = http_server.serve("/empty.csv", b"")

    with pytest.raises(IngestionError, match=f"^{re.escape(url)} is empty"):
        ingest_data(url, raw_dir, DataSourceConfig(source=url, download=FAST))

    assert _snapshot(raw_dir) == previous_ingestion


# --- file sources ----------------------------------------------------------------------------


@pytest.mark.unit
def test_ingest_copies_a_csv_file_byte_for_byte(raw_csv, raw_dir):
    manifest = ingest_data(str(raw_csv), raw_dir, DataSourceConfig(source=str(raw_csv)))

    assert (raw_dir / RAW_FILE_NAME).read_bytes() == raw_csv.read_bytes()
    assert manifest.sha256 == _sha256(raw_csv.read_bytes())
    assert manifest.source_kind == "file"
    assert manifest.source == str(raw_csv)
    assert manifest.rows == 400
    assert manifest.checksum_verified is False
    assert manifest.details == {}


@pytest.mark.unit
def test_ingest_keeps_windows_line_endings_of_a_csv_file(raw_csv, raw_dir):
    crlf = raw_csv.read_bytes().replace(b"\n", b"\r\n")
    raw_csv.write_bytes(crlf)

    manifest = ingest_data(str(raw_csv), raw_dir)

    assert (raw_dir / RAW_FILE_NAME).read_bytes() == crlf
    assert manifest.rows == 400


@pytest.mark.unit
def test_ingest_verifies_a_configured_checksum_of_a_csv_file(raw_csv, raw_dir):
    source = str(raw_csv)
    config = DataSourceConfig(source=source, checksums={source: _sha256(raw_csv.read_bytes())})

    assert ingest_data(source, raw_dir, config).checksum_verified is True


@pytest.mark.unit
def test_ingest_rejects_a_csv_file_with_a_wrong_checksum_and_keeps_previous_file(
    raw_csv, raw_dir, previous_ingestion
):
    source = str(raw_csv)
    config = DataSourceConfig(source=source, checksums={source: _sha256(b"other")})

    with pytest.raises(ChecksumMismatchError, match=_sha256(raw_csv.read_bytes())):
        ingest_data(source, raw_dir, config)

    assert _snapshot(raw_dir) == previous_ingestion


@pytest.mark.unit
@pytest.mark.parametrize("suffix", [".parquet", ".PARQUET"])
def test_ingest_converts_a_parquet_file_to_csv(tmp_path, raw_dir, raw_customers, raw_csv, suffix):
    source = tmp_path / f"customers{suffix}"
    raw_customers.to_parquet(source, index=False)

    manifest = ingest_data(str(source), raw_dir)

    written = read_raw(raw_dir / RAW_FILE_NAME)
    pd.testing.assert_frame_equal(written, pd.read_csv(raw_csv))
    assert manifest.rows == len(raw_customers)
    assert manifest.source_kind == "file"
    assert manifest.sha256 == _sha256((raw_dir / RAW_FILE_NAME).read_bytes())


@pytest.mark.unit
def test_ingest_verifies_the_checksum_of_the_parquet_file_itself(tmp_path, raw_dir, raw_customers):
    source = tmp_path / "customers.parquet"
    raw_customers.to_parquet(source, index=False)
    config = DataSourceConfig(checksums={str(source): _sha256(source.read_bytes())})

    assert ingest_data(str(source), raw_dir, config).checksum_verified is True


@pytest.mark.unit
def test_ingest_rejects_a_corrupt_parquet_file(tmp_path, raw_dir):
    source = tmp_path / "customers.parquet"
    source.write_text("customerID,Churn\n0001-ABCDE,No\n")

    with pytest.raises(IngestionError, match="is not a readable Parquet file"):
        ingest_data(str(source), raw_dir)

    _assert_nothing_written(raw_dir)


@pytest.mark.unit
def test_ingest_rejects_a_parquet_file_without_rows(tmp_path, raw_dir, raw_customers):
    source = tmp_path / "customers.parquet"
    raw_customers.head(0).to_parquet(source, index=False)

    with pytest.raises(IngestionError, match="returned no rows"):
        ingest_data(str(source), raw_dir)

    _assert_nothing_written(raw_dir)


@pytest.mark.unit
def test_ingest_of_a_missing_file_names_the_path(tmp_path, raw_dir):
    missing = tmp_path / "nowhere" / "customers.csv"

    with pytest.raises(IngestionError, match="does not exist") as caught:
        ingest_data(str(missing), raw_dir)

    assert str(missing) in str(caught.value)
    _assert_nothing_written(raw_dir)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"  \n\r\n\t\n", "is empty"),
        (b"customerID,gender,tenure,Churn\n", "has a header but no rows"),
        (bytes(range(256)) * 8, "is binary, not CSV text"),
        (PNG_HEADER + b"\x00" * 64, "is binary, not CSV text"),
        (b"PAR1" + b"x" * 64, "is binary, not CSV text"),
        (b"customerID,gender\n0001-ABCDE,M\xe4nnlich\n", "not readable as UTF-8 CSV"),
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
    source = tmp_path / "customers.csv"
    source.write_bytes(content)

    with pytest.raises(IngestionError, match=message) as caught:
        ingest_data(str(source), raw_dir)

    assert str(caught.value).startswith(f"{source} ")  # the source, not the hidden temp copy
    assert _snapshot(raw_dir) == previous_ingestion


@pytest.mark.unit
def test_read_raw_names_the_file_it_rejects(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_bytes(b"customerID,Churn\n")

    with pytest.raises(IngestionError, match=f"^{re.escape(str(path))} has a header but no rows"):
        read_raw(path)


@pytest.mark.unit
def test_read_raw_keeps_blank_total_charges_as_text(tmp_path, sql_customers):
    path = tmp_path / "customers.csv"
    sql_customers.to_csv(path, index=False)

    frame = read_raw(path)

    assert len(frame) == len(sql_customers)
    assert frame["TotalCharges"].eq(" ").sum() == sql_customers["TotalCharges"].eq(" ").sum() > 0


@pytest.mark.unit
@pytest.mark.parametrize(
    "content",
    [b"", b"customerID,Churn\n", PNG_HEADER],
    ids=["empty", "header-only", "png"],
)
def test_ingest_of_an_unusable_file_into_an_empty_folder_writes_nothing(tmp_path, raw_dir, content):
    source = tmp_path / "customers.csv"
    source.write_bytes(content)

    with pytest.raises(IngestionError):
        ingest_data(str(source), raw_dir)

    _assert_nothing_written(raw_dir)


# --- synthetic source ------------------------------------------------------------------------


@pytest.mark.unit
def test_ingest_of_synthetic_data_uses_the_configured_rows_and_records_the_seed(raw_dir):
    config = DataSourceConfig(source="synthetic", synthetic=SyntheticConfig(n_rows=150, seed=3))

    manifest = ingest_data("synthetic", raw_dir, config)

    assert manifest.rows == 150
    assert manifest.source_kind == "synthetic"
    assert manifest.checksum_verified is False
    assert manifest.details["synthetic_seed"] == 3
    assert manifest.details["synthetic_n_rows"] == 150
    assert manifest.details["synthetic_blank_total_charges"] is True
    expected_csv = generate_customers(150, seed=3).to_csv(index=False).encode()
    assert (raw_dir / RAW_FILE_NAME).read_bytes() == expected_csv


@pytest.mark.unit
def test_ingest_of_synthetic_data_is_reproducible_from_the_seed(tmp_path):
    def digest(seed: int, folder: str) -> str:
        config = DataSourceConfig(synthetic=SyntheticConfig(n_rows=100, seed=seed))
        return ingest_data("synthetic", tmp_path / folder, config).sha256

    assert digest(5, "a") == digest(5, "b")
    assert digest(5, "a") != digest(6, "c")


@pytest.mark.unit
def test_ingest_replaces_an_earlier_raw_file_and_manifest(raw_dir, previous_ingestion):
    config = DataSourceConfig(synthetic=SyntheticConfig(n_rows=130, seed=9))

    manifest = ingest_data("synthetic", raw_dir, config)

    assert read_manifest(raw_dir) == manifest
    assert manifest.rows == 130
    assert _snapshot(raw_dir)[RAW_FILE_NAME] != previous_ingestion[RAW_FILE_NAME]
    assert sorted(_snapshot(raw_dir)) == [RAW_FILE_NAME, MANIFEST_NAME]


# --- SQL sources -----------------------------------------------------------------------------


@pytest.mark.unit
def test_ingest_of_a_sqlite_table_round_trips_rows_and_columns(sqlite_url, raw_dir, sql_customers):
    manifest = ingest_data(sqlite_url, raw_dir, DataSourceConfig(sql_table="customers"))

    pd.testing.assert_frame_equal(read_raw(raw_dir / RAW_FILE_NAME), sql_customers)
    assert manifest.source_kind == "sql"
    assert manifest.details == {"sql_query": None, "sql_table": "customers"}


@pytest.mark.unit
def test_ingest_of_a_sql_source_without_query_or_table_says_how_to_fix_it(sqlite_url, raw_dir):
    with pytest.raises(IngestionError, match=r"pass --query .* or --table"):
        ingest_data(sqlite_url, raw_dir, DataSourceConfig())

    _assert_nothing_written(raw_dir)


@pytest.mark.unit
def test_ingest_of_a_malformed_sql_url_says_it_is_not_a_valid_sqlalchemy_url(raw_dir):
    url = "postgresql+psycopg://user:secret@host:notaport/db"

    with pytest.raises(IngestionError, match="not a valid SQLAlchemy URL") as caught:
        ingest_data(url, raw_dir, DataSourceConfig(sql_query="SELECT 1"))

    assert "secret" not in str(caught.value)
    _assert_nothing_written(raw_dir)


@pytest.mark.unit
def test_ingest_of_an_unknown_dialect_names_it(raw_dir):
    with pytest.raises(IngestionError, match="'nosuchdb'"):
        ingest_data("nosuchdb://x/y", raw_dir, DataSourceConfig(sql_query="SELECT 1"))

    _assert_nothing_written(raw_dir)


@pytest.mark.integration
def test_ingest_of_a_postgres_query_round_trips_and_passes_validation(
    postgres_url, postgres_table, raw_dir, sql_customers
):
    query = f'SELECT * FROM {postgres_table} ORDER BY "customerID"'  # noqa: S608 - our own name

    manifest = ingest_data(postgres_url, raw_dir, DataSourceConfig(sql_query=query))

    written = read_raw(raw_dir / RAW_FILE_NAME)
    expected = sql_customers.sort_values("customerID", ignore_index=True)
    pd.testing.assert_frame_equal(written, expected)
    assert written["TotalCharges"].eq(" ").sum() == expected["TotalCharges"].eq(" ").sum() > 0
    assert validate_data(written).passed is True
    assert manifest.rows == len(sql_customers)
    assert manifest.columns == list(sql_customers.columns)
    assert manifest.source_kind == "sql"
    assert manifest.details == {"sql_query": query, "sql_table": None}


@pytest.mark.integration
@pytest.mark.parametrize("qualified", [False, True], ids=["bare", "schema-qualified"])
def test_ingest_of_a_postgres_table_round_trips_rows_and_columns(
    postgres_url, postgres_table, raw_dir, sql_customers, qualified
):
    table = f"public.{postgres_table}" if qualified else postgres_table

    manifest = ingest_data(postgres_url, raw_dir, DataSourceConfig(sql_table=table))

    written = read_raw(raw_dir / RAW_FILE_NAME)
    pd.testing.assert_frame_equal(
        written.sort_values("customerID", ignore_index=True),
        sql_customers.sort_values("customerID", ignore_index=True),
    )
    assert validate_data(written).passed is True
    assert manifest.rows == len(sql_customers)
    assert manifest.details["sql_table"] == table


@pytest.mark.integration
def test_ingest_manifest_hides_the_database_password(postgres_url, postgres_table, raw_dir):
    url = postgres_url.replace("postgres@", "postgres:secret@", 1)
    if "secret" not in url:
        pytest.skip("the test database URL has no plain 'postgres@' user to add a password to")

    try:
        manifest = ingest_data(url, raw_dir, DataSourceConfig(sql_table=postgres_table))
    except SourceUnreachableError:
        pytest.skip("the test database does not accept an arbitrary password")

    assert "secret" not in manifest.source
    assert ":***@" in manifest.source
    assert "secret" not in (raw_dir / MANIFEST_NAME).read_text()


@pytest.mark.integration
def test_ingest_of_a_postgres_query_with_no_rows_fails_and_keeps_previous_file(
    postgres_url, postgres_table, raw_dir, previous_ingestion
):
    query = f"SELECT * FROM {postgres_table} WHERE false"  # noqa: S608 - our own name

    with pytest.raises(IngestionError, match="returned no rows"):
        ingest_data(postgres_url, raw_dir, DataSourceConfig(sql_query=query))

    assert _snapshot(raw_dir) == previous_ingestion


@pytest.mark.integration
def test_ingest_of_a_missing_postgres_table_names_the_problem(postgres_url, raw_dir):
    with pytest.raises(IngestionError, match='relation "fraudstream_no_such_table" does not exist'):
        ingest_data(postgres_url, raw_dir, DataSourceConfig(sql_table="fraudstream_no_such_table"))

    _assert_nothing_written(raw_dir)


@pytest.mark.integration
def test_ingest_of_an_unreachable_database_hides_the_password(raw_dir):
    url = "postgresql+psycopg://postgres:secret@127.0.0.1:1/test"

    with pytest.raises(SourceUnreachableError) as caught:
        ingest_data(url, raw_dir, DataSourceConfig(sql_query="SELECT 1"))

    assert "secret" not in str(caught.value)
    assert "127.0.0.1:1" in str(caught.value)
    _assert_nothing_written(raw_dir)


# --- the real IBM Telco file -----------------------------------------------------------------


@pytest.mark.integration
def test_ingest_of_the_real_file_matches_the_pinned_checksum(real_data_path, raw_dir):
    source = str(real_data_path)
    config = DataSourceConfig(source=source, checksums={source: DEFAULT_SOURCE_SHA256})

    manifest = ingest_data(source, raw_dir, config)

    assert manifest.rows == REAL_ROWS
    assert manifest.sha256 == DEFAULT_SOURCE_SHA256
    assert manifest.checksum_verified is True
    assert len(manifest.columns) == 21
    assert (raw_dir / RAW_FILE_NAME).read_bytes() == real_data_path.read_bytes()


@pytest.mark.integration
def test_ingest_of_the_real_file_over_http_matches_the_pinned_checksum(
    real_data_path, http_server, raw_dir
):
    url = http_server.serve("/Telco-Customer-Churn.csv", real_data_path.read_bytes())
    config = DataSourceConfig(source=url, checksums={url: DEFAULT_SOURCE_SHA256}, download=FAST)

    manifest = ingest_data(url, raw_dir, config)

    assert manifest.rows == REAL_ROWS
    assert manifest.sha256 == DEFAULT_SOURCE_SHA256
    assert manifest.checksum_verified is True
    assert (raw_dir / RAW_FILE_NAME).read_bytes() == real_data_path.read_bytes()


@pytest.mark.unit
def test_ingest_explains_that_a_folder_is_not_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    with pytest.raises(IngestionError, match="is a folder"):
        ingest_data(str(folder), tmp_path / "raw")
    assert not (tmp_path / "raw" / "customers.csv").exists()


@pytest.mark.unit
def test_manifest_notes_a_local_copy_of_a_pinned_source(raw_csv: Path, tmp_path: Path) -> None:
    digest = hashlib.sha256(raw_csv.read_bytes()).hexdigest()
    pinned = "https://example.org/telco.csv"
    config = DataSourceConfig(source=str(raw_csv), checksums={pinned: digest})
    manifest = ingest_data(str(raw_csv), tmp_path / "raw", config)
    assert manifest.checksum_verified is False
    assert manifest.details["same_bytes_as"] == pinned


@pytest.mark.integration
def test_the_real_file_is_recognised_as_the_canonical_ibm_data(
    real_data_path: Path, tmp_path: Path
) -> None:
    manifest = ingest_data(str(real_data_path), tmp_path / "raw", DataSourceConfig())
    assert manifest.details["same_bytes_as"] == DataSourceConfig().source
