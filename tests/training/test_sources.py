"""Tests of the source readers: source kinds, checksums, HTTP downloads and SQL queries.

Tests that open a socket (loopback HTTP, PostgreSQL, a closed loopback port) are ``integration``;
the rest, SQLite included, are ``unit``.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from fraudstream.errors import ChecksumMismatchError, IngestionError, SourceUnreachableError
from fraudstream.training.config import DownloadConfig
from fraudstream.training.sources import (
    OFFLINE_HINT,
    SourceKind,
    classify_source,
    describe_source,
    download,
    read_sql,
    url_reachable,
    verify_checksum,
)
from fraudstream.transactions.contract import (
    CUSTOMER_ID,
    DATETIME_COLUMNS,
    TRANSACTION_ID,
    TX_AMOUNT,
    TX_FRAUD,
)

FAST = DownloadConfig(timeout_seconds=5, retries=2, backoff_seconds=0.001)
ONE_RETRY_NO_WAIT = DownloadConfig(timeout_seconds=5, retries=1, backoff_seconds=0)
#: A client that gives up on a silent server quickly (the server is silent for much longer).
IMPATIENT = DownloadConfig(timeout_seconds=0.2, retries=1, backoff_seconds=0)
DIGEST_OF_ABC = hashlib.sha256(b"abc").hexdigest()


def _by_id(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in id order, timestamps in nanoseconds (databases give microseconds)."""
    in_ns = {c: frame[c].astype("datetime64[ns]") for c in DATETIME_COLUMNS}
    return frame.assign(**in_ns).sort_values(TRANSACTION_ID, ignore_index=True)


def _with_datetimes(frame: pd.DataFrame) -> pd.DataFrame:
    """SQLite keeps timestamps as text: parse them back to compare with the simulated frame."""
    return _by_id(frame.assign(**{c: pd.to_datetime(frame[c]) for c in DATETIME_COLUMNS}))


# --- classify_source / describe_source -------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("simulator", SourceKind.SIMULATOR),
        ("  Simulator ", SourceKind.SIMULATOR),
        ("https://example.org/transactions.csv", SourceKind.URL),
        ("HTTP://EXAMPLE.ORG/transactions.parquet", SourceKind.URL),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/test", SourceKind.SQL),
        ("sqlite:///data/transactions.sqlite", SourceKind.SQL),
        ("data/raw/transactions.csv", SourceKind.FILE),
        ("/abs/path/transactions.parquet", SourceKind.FILE),
        ("simulator.csv", SourceKind.FILE),
        ("C:\\data\\transactions.csv", SourceKind.FILE),
    ],
)
def test_classify_source_tells_each_kind_apart(source, kind):
    assert classify_source(source) is kind


@pytest.mark.unit
def test_describe_source_hides_the_password_of_a_sql_url():
    described = describe_source("postgresql+psycopg://alice:secret@db.internal:5432/payments")

    assert "secret" not in described
    assert described == "postgresql+psycopg://alice:***@db.internal:5432/payments"


@pytest.mark.unit
def test_describe_source_hides_the_password_of_a_web_url():
    shown = describe_source("https://analyst:s3cret@example.org/transactions.csv")

    assert "s3cret" not in shown
    assert shown == "https://analyst:***@example.org/transactions.csv"


@pytest.mark.unit
@pytest.mark.parametrize(
    "source",
    [
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        "https://example.org/transactions.csv",
        "https://analyst@example.org/transactions.csv",
        "data/raw/transactions.csv",
        "simulator",
    ],
)
def test_describe_source_leaves_sources_without_a_password_unchanged(source):
    assert describe_source(source) == source


@pytest.mark.unit
@pytest.mark.parametrize(
    "source",
    ["postgresql+psycopg://alice:secret@host:notaport/db", "://alice:secret@nowhere"],
)
def test_describe_source_replaces_an_unparseable_database_url(source):
    assert describe_source(source) == "<unparseable database URL>"


@pytest.mark.unit
def test_describe_source_replaces_an_unparseable_web_url():
    assert describe_source("https://alice:secret@host:notaport/x.csv") == "<unparseable URL>"


# --- verify_checksum -------------------------------------------------------------------------


@pytest.mark.unit
def test_verify_checksum_reports_no_check_when_none_is_configured():
    assert verify_checksum(DIGEST_OF_ABC, None, "abc.csv") is False


@pytest.mark.unit
@pytest.mark.parametrize("expected", [DIGEST_OF_ABC, DIGEST_OF_ABC.upper()])
def test_verify_checksum_accepts_a_matching_digest_in_either_case(expected):
    assert verify_checksum(DIGEST_OF_ABC, expected, "abc.csv") is True


@pytest.mark.unit
def test_verify_checksum_rejects_a_different_digest_naming_both_and_the_source():
    expected = hashlib.sha256(b"abd").hexdigest()

    with pytest.raises(ChecksumMismatchError) as caught:
        verify_checksum(DIGEST_OF_ABC, expected, "abc.csv")

    message = str(caught.value)
    assert DIGEST_OF_ABC in message
    assert expected in message
    assert "abc.csv" in message
    assert "data.checksums" in message


# --- download / url_reachable ----------------------------------------------------------------


@pytest.mark.integration
def test_download_writes_the_served_bytes_and_returns_their_sha256(http_server, tmp_path):
    body = b"TRANSACTION_ID,TX_AMOUNT\n0,12.5\n" * 100
    url = http_server.serve("/x.csv", body)
    target = tmp_path / "x.csv"

    digest = download(url, target, FAST)

    assert target.read_bytes() == body
    assert digest == hashlib.sha256(body).hexdigest()


@pytest.mark.integration
def test_download_follows_a_redirect(http_server, tmp_path):
    url = http_server.serve("/old.csv", status=302, headers={"Location": "/new.csv"})
    http_server.serve("/new.csv", b"a,b\n1,2\n")
    target = tmp_path / "x.csv"

    download(url, target, FAST)

    assert target.read_bytes() == b"a,b\n1,2\n"


@pytest.mark.integration
def test_download_reports_growing_byte_counts_and_the_content_length(http_server, tmp_path):
    body = bytes(range(256)) * 1024  # 256 KiB: several 64 KiB chunks
    url = http_server.serve("/big.bin", body)
    calls: list[tuple[int, int | None]] = []

    download(url, tmp_path / "big.bin", FAST, lambda done, total: calls.append((done, total)))

    done = [d for d, _ in calls]
    assert len(calls) >= 2
    assert done == sorted(set(done))
    assert done[-1] == len(body)
    assert {t for _, t in calls} == {len(body)}


@pytest.mark.integration
def test_download_reports_an_unknown_total_without_content_length(http_server, tmp_path):
    url = http_server.serve("/x.csv", b"a,b\n1,2\n", content_length=False)
    calls: list[tuple[int, int | None]] = []

    download(url, tmp_path / "x.csv", FAST, lambda done, total: calls.append((done, total)))

    assert calls[-1] == (8, None)


@pytest.mark.integration
@pytest.mark.parametrize("status", [401, 403, 404, 410])
def test_download_fails_fast_without_retrying_a_client_error(http_server, tmp_path, status):
    url = http_server.serve("/x.csv", b"no", status=status)

    with pytest.raises(IngestionError, match=f"answered HTTP {status}") as caught:
        download(url, tmp_path / "x.csv", DownloadConfig(retries=5, backoff_seconds=0.01))

    assert not isinstance(caught.value, SourceUnreachableError)
    assert url in str(caught.value)
    assert http_server.hits["/x.csv"] == 1


@pytest.mark.integration
def test_download_error_hides_the_password_of_the_url(http_server, tmp_path):
    http_server.serve("/x.csv", b"no", status=403)
    url = http_server.url("/x.csv", userinfo="analyst:s3cret@")

    with pytest.raises(IngestionError, match="answered HTTP 403") as caught:
        download(url, tmp_path / "x.csv", FAST)

    assert "s3cret" not in str(caught.value)
    assert "analyst:***@" in str(caught.value)


@pytest.mark.integration
@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_download_retries_a_server_error_and_keeps_only_the_good_bytes(
    http_server, tmp_path, status
):
    url = http_server.serve("/x.csv", b"busy, partial junk", status=status)
    http_server.serve("/x.csv", b"a,b\n1,2\n")
    target = tmp_path / "x.csv"

    download(url, target, FAST)

    assert target.read_bytes() == b"a,b\n1,2\n"
    assert http_server.hits["/x.csv"] == 2


@pytest.mark.integration
def test_download_retries_a_dropped_connection_and_keeps_only_the_complete_body(
    http_server, tmp_path
):
    body = b"TRANSACTION_ID,TX_AMOUNT\n" + b"1,2.5\n" * 20_000
    url = http_server.serve("/x.csv", body, cut_after=70_000)
    http_server.serve("/x.csv", body)
    target = tmp_path / "x.csv"

    digest = download(url, target, FAST)

    assert target.read_bytes() == body
    assert digest == hashlib.sha256(body).hexdigest()
    assert http_server.hits["/x.csv"] == 2


@pytest.mark.integration
def test_download_gives_up_after_the_configured_retries_of_a_server_error(http_server, tmp_path):
    url = http_server.serve("/x.csv", b"busy", status=503)

    with pytest.raises(SourceUnreachableError, match=r"after 2 attempt\(s\) \(HTTP 503\)"):
        download(url, tmp_path / "x.csv", ONE_RETRY_NO_WAIT)

    assert http_server.hits["/x.csv"] == 2


@pytest.mark.integration
def test_download_gives_up_on_a_server_that_never_answers_within_the_timeout(http_server, tmp_path):
    url = http_server.serve("/slow.csv", stall=True)

    with pytest.raises(SourceUnreachableError, match=r"after 2 attempt\(s\) \(ReadTimeout"):
        download(url, tmp_path / "slow.csv", IMPATIENT)

    assert http_server.hits["/slow.csv"] == 2


@pytest.mark.integration
def test_download_succeeds_when_a_retry_is_answered_after_a_timeout(http_server, tmp_path):
    url = http_server.serve("/slow.csv", stall=True)
    http_server.serve("/slow.csv", b"a,b\n1,2\n")
    target = tmp_path / "slow.csv"

    download(url, target, IMPATIENT)

    assert target.read_bytes() == b"a,b\n1,2\n"
    assert http_server.hits["/slow.csv"] == 2


@pytest.mark.integration
def test_download_from_a_closed_port_names_the_url_and_both_ways_out(closed_port, tmp_path):
    url = f"http://127.0.0.1:{closed_port}/x.csv"

    with pytest.raises(SourceUnreachableError) as caught:
        download(url, tmp_path / "x.csv", ONE_RETRY_NO_WAIT)

    message = str(caught.value)
    assert url in message
    assert "after 2 attempt(s)" in message
    assert "--source PATH" in message
    assert "--source simulator" in message
    assert OFFLINE_HINT in message


@pytest.mark.integration
def test_download_rejects_a_body_above_the_size_limit_without_retrying(http_server, tmp_path):
    url = http_server.serve("/big.bin", b"x" * 200_000)
    tiny = DownloadConfig(timeout_seconds=5, retries=3, max_megabytes=0.1)

    with pytest.raises(IngestionError, match=r"larger than data\.download\.max_megabytes"):
        download(url, tmp_path / "big.bin", tiny)

    assert http_server.hits["/big.bin"] == 1


@pytest.mark.integration
def test_download_accepts_a_body_exactly_at_the_size_limit(http_server, tmp_path):
    limit = DownloadConfig(timeout_seconds=5, retries=0, max_megabytes=0.25)
    body = b"x" * (256 * 1024)
    url = http_server.serve("/edge.bin", body)

    download(url, tmp_path / "edge.bin", limit)

    assert (tmp_path / "edge.bin").read_bytes() == body


@pytest.mark.unit
def test_download_rejects_a_malformed_url_with_a_clear_message(tmp_path):
    url = "http://127.0.0.1:notaport/x.csv"

    with pytest.raises(IngestionError, match="is not a valid URL") as caught:
        download(url, tmp_path / "x.csv", ONE_RETRY_NO_WAIT)

    assert url in str(caught.value)


@pytest.mark.integration
def test_url_reachable_is_true_for_a_served_file(http_server):
    url = http_server.serve("/x.csv", b"a,b\n1,2\n")

    assert url_reachable(url, timeout_seconds=5) is True


@pytest.mark.integration
@pytest.mark.parametrize("status", [404, 503])
def test_url_reachable_is_false_for_an_error_status(http_server, status):
    url = http_server.serve("/x.csv", status=status)

    assert url_reachable(url, timeout_seconds=5) is False


@pytest.mark.integration
def test_url_reachable_is_false_for_a_server_that_never_answers(http_server):
    url = http_server.serve("/slow.csv", stall=True)

    assert url_reachable(url, timeout_seconds=0.2) is False


@pytest.mark.integration
def test_url_reachable_is_false_for_a_closed_port(closed_port):
    assert url_reachable(f"http://127.0.0.1:{closed_port}/x.csv", timeout_seconds=5) is False


@pytest.mark.unit
def test_url_reachable_is_false_for_a_malformed_url():
    assert url_reachable("http://127.0.0.1:notaport/x.csv") is False


# --- read_sql: URL, dialect and selector errors (no database needed) ---------------------------


@pytest.mark.unit
def test_read_sql_rejects_a_malformed_url_without_showing_its_password():
    with pytest.raises(IngestionError, match="not a valid SQLAlchemy URL") as caught:
        read_sql("postgresql+psycopg://user:secret@host:notaport/db", "SELECT 1", None)

    assert "secret" not in str(caught.value)
    assert "dialect+driver://user:password@host:port/database" in str(caught.value)


@pytest.mark.unit
def test_read_sql_names_an_unknown_dialect():
    with pytest.raises(IngestionError, match="unknown or uninstalled database dialect 'nosuchdb'"):
        read_sql("nosuchdb://x/y", "SELECT 1", None)


@pytest.mark.unit
def test_read_sql_without_query_or_table_tells_to_pass_one(sqlite_url):
    with pytest.raises(IngestionError) as caught:
        read_sql(sqlite_url, None, None)

    assert "--query" in str(caught.value)
    assert "--table" in str(caught.value)


@pytest.mark.unit
def test_read_sql_keeps_the_url_error_ahead_of_the_missing_selector():
    with pytest.raises(IngestionError, match="not a valid SQLAlchemy URL"):
        read_sql("postgresql+psycopg://user@host:notaport/db", None, None)


# --- read_sql against SQLite ----------------------------------------------------------------


@pytest.mark.unit
def test_read_sql_reads_a_sqlite_table(sqlite_url, transactions):
    frame = read_sql(sqlite_url, None, "transactions")

    assert frame[DATETIME_COLUMNS[0]].map(type).eq(str).all()  # SQLite has no timestamp type
    pd.testing.assert_frame_equal(_with_datetimes(frame), transactions)


@pytest.mark.unit
def test_read_sql_runs_a_query_against_sqlite(sqlite_url, transactions):
    query = f"SELECT {TRANSACTION_ID}, {TX_AMOUNT} FROM transactions WHERE {TX_FRAUD} = 1"  # noqa: S608 - constants

    frame = read_sql(sqlite_url, query, None)

    assert list(frame.columns) == [TRANSACTION_ID, TX_AMOUNT]
    assert len(frame) == int(transactions[TX_FRAUD].sum()) > 0


@pytest.mark.unit
def test_read_sql_reports_rows_read_to_the_progress_callback(sqlite_url, transactions):
    calls: list[tuple[int, int | None]] = []

    read_sql(sqlite_url, None, "transactions", lambda d, t: calls.append((d, t)))

    assert calls == [(len(transactions), None)]


@pytest.mark.unit
def test_read_sql_returns_an_empty_frame_for_a_query_with_no_rows(sqlite_url):
    frame = read_sql(sqlite_url, "SELECT * FROM transactions WHERE 1 = 0", None)

    assert frame.empty


@pytest.mark.unit
def test_read_sql_blames_the_query_not_the_connection_for_a_missing_sqlite_table(sqlite_url):
    with pytest.raises(IngestionError, match="no such table: missing") as caught:
        read_sql(sqlite_url, None, "missing")

    assert not isinstance(caught.value, SourceUnreachableError)
    assert "Fix the query or table name" in str(caught.value)


@pytest.mark.unit
def test_read_sql_names_a_missing_column_in_a_sqlite_query(sqlite_url):
    with pytest.raises(IngestionError, match="no such column: TX_NOPE") as caught:
        read_sql(sqlite_url, "SELECT TX_NOPE FROM transactions", None)

    assert not isinstance(caught.value, SourceUnreachableError)


@pytest.mark.unit
def test_read_sql_reports_an_unopenable_sqlite_file_as_unreachable(tmp_path):
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'db.sqlite'}"

    with pytest.raises(SourceUnreachableError, match="unable to open database file"):
        read_sql(url, "SELECT 1", None)


# --- read_sql against the real PostgreSQL ----------------------------------------------------


@pytest.mark.integration
def test_read_sql_runs_a_query_against_postgres(postgres_url, postgres_table, transactions):
    query = f'SELECT * FROM {postgres_table} ORDER BY "{TRANSACTION_ID}"'  # noqa: S608 - our own name

    frame = read_sql(postgres_url, query, None)

    assert frame[TRANSACTION_ID].is_monotonic_increasing
    pd.testing.assert_frame_equal(_by_id(frame), _by_id(transactions))


@pytest.mark.integration
@pytest.mark.parametrize("qualified", [False, True], ids=["bare", "schema-qualified"])
def test_read_sql_reads_a_postgres_table(postgres_url, postgres_table, transactions, qualified):
    table = f"public.{postgres_table}" if qualified else postgres_table

    frame = read_sql(postgres_url, None, table)

    pd.testing.assert_frame_equal(_by_id(frame), _by_id(transactions))


@pytest.mark.integration
def test_read_sql_runs_an_aggregate_query_against_postgres(
    postgres_url, postgres_table, transactions
):
    column = f'"{CUSTOMER_ID}"'  # quoted: PostgreSQL folds bare names to lower case
    query = f"SELECT {column}, COUNT(*) AS n FROM {postgres_table} GROUP BY {column}"  # noqa: S608

    frame = read_sql(postgres_url, query, None)

    assert frame["n"].sum() == len(transactions)
    assert set(frame[CUSTOMER_ID]) == set(transactions[CUSTOMER_ID])


@pytest.mark.integration
@pytest.mark.parametrize("table", ["fraudstream_no_such_table", "public.fraudstream_no_such_table"])
def test_read_sql_names_a_missing_postgres_table(postgres_url, table):
    problem = r'relation "(public\.)?fraudstream_no_such_table" does not exist'
    with pytest.raises(IngestionError, match=problem) as caught:
        read_sql(postgres_url, None, table)

    assert not isinstance(caught.value, SourceUnreachableError)


@pytest.mark.integration
def test_read_sql_reports_a_query_syntax_error_as_the_querys_fault(postgres_url):
    with pytest.raises(IngestionError, match='syntax error at or near "SELEC"') as caught:
        read_sql(postgres_url, "SELEC 1", None)

    assert not isinstance(caught.value, SourceUnreachableError)
    assert "Fix the query" in str(caught.value)


@pytest.mark.integration
def test_read_sql_reports_a_closed_postgres_port_as_unreachable_without_the_password():
    url = "postgresql+psycopg://postgres:secret@127.0.0.1:1/test"

    with pytest.raises(SourceUnreachableError) as caught:
        read_sql(url, "SELECT 1", None)

    message = str(caught.value)
    assert "secret" not in message
    assert "postgresql+psycopg://postgres:***@127.0.0.1:1/test" in message
    assert "Check host, port" in message


@pytest.mark.integration
def test_read_sql_names_a_database_that_does_not_exist(postgres_url):
    url = postgres_url.rsplit("/", 1)[0] + "/fraudstream_no_such_database"

    with pytest.raises(SourceUnreachableError, match="fraudstream_no_such_database"):
        read_sql(url, "SELECT 1", None)
