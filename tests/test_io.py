"""Tests of the file primitives: atomic writes (one file or several), hashes, frames."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from pydantic import BaseModel

from fraudstream.io import (
    atomic_path,
    atomic_paths,
    round_floats,
    sha256_file,
    write_frame,
    write_model_json,
    write_text_atomic,
)
from fraudstream.training.manifest import IngestManifest

pytestmark = pytest.mark.unit


def test_atomic_path_moves_the_file_into_place(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("new")
        assert not target.exists()
    assert target.read_text() == "new"
    assert list(target.parent.iterdir()) == [target]


def test_atomic_path_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")

    def write_half_then_fail() -> None:
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        write_half_then_fail()
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_paths_replace_all_or_none(tmp_path: Path) -> None:
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("old a")
    second.write_text("old b")

    def write_both_then_fail() -> None:
        with atomic_paths(first, second) as (tmp_a, tmp_b):
            tmp_a.write_text("new a")
            tmp_b.write_text("new b")
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        write_both_then_fail()
    assert (first.read_text(), second.read_text()) == ("old a", "old b")
    with atomic_paths(first, second) as (tmp_a, tmp_b):
        tmp_a.write_text("new a")
        tmp_b.write_text("new b")
    assert (first.read_text(), second.read_text()) == ("new a", "new b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_write_text_atomic_writes_utf8(tmp_path: Path) -> None:
    target = tmp_path / "t.txt"
    write_text_atomic(target, "ingest → validate")
    assert target.read_text(encoding="utf-8") == "ingest → validate"


def test_write_model_json_writes_indented_json_that_reads_back(tmp_path: Path) -> None:
    manifest = IngestManifest(
        source="simulator",
        source_kind="simulator",
        file="transactions.parquet",
        sha256="0" * 64,
        checksum_verified=False,
        rows=3,
        columns=["TRANSACTION_ID"],
        bytes=10,
        fraudstream_version="0",
    )
    target = tmp_path / "manifest.json"

    write_model_json(target, manifest)

    text = target.read_text(encoding="utf-8")
    assert text.startswith('{\n  "source": "simulator"')
    assert text.endswith("}\n")
    assert IngestManifest.model_validate_json(text) == manifest


def test_round_floats_hides_the_last_bits_of_a_sum_and_keeps_everything_else() -> None:
    # 2.03 / 7 summed in two orders: the last bit differs, the report must not.
    a, b = sum([0.48, 0.29, 0.28, 0.32, 0.19, 0.25, 0.22]) / 7, 0.29
    assert a != b
    value = {"x": [a, 1, "s", None, float("nan")], "y": {"z": 1.0 / 3}}

    rounded = round_floats(value, 10)

    assert rounded["x"][0] == round_floats(b, 10) == 0.29
    assert rounded["x"][1:4] == [1, "s", None]
    assert math.isnan(rounded["x"][4])
    assert rounded["y"]["z"] == 0.3333333333


def test_write_model_json_rounds_floats_when_asked(tmp_path: Path) -> None:
    class Report(BaseModel):
        share: float
        count: int

    target = tmp_path / "report.json"
    write_model_json(target, Report(share=0.1 + 0.2, count=3), significant_digits=10)
    assert json.loads(target.read_text(encoding="utf-8")) == {"share": 0.3, "count": 3}


def test_sha256_file_of_an_empty_file_is_the_empty_digest(tmp_path: Path) -> None:
    target = tmp_path / "empty.bin"
    target.write_bytes(b"")
    assert sha256_file(target) == hashlib.sha256(b"").hexdigest()


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    target = tmp_path / "b.bin"
    payload = bytes(range(256)) * 10_000
    target.write_bytes(payload)
    assert sha256_file(target) == hashlib.sha256(payload).hexdigest()


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_write_frame_round_trips(tmp_path: Path, file_format: str) -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    target = tmp_path / f"f.{file_format}"
    write_frame(target, frame, file_format)
    read = pd.read_csv(target) if file_format == "csv" else pd.read_parquet(target)
    pd.testing.assert_frame_equal(read, frame, check_dtype=False)


def test_write_frame_rejects_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="csv or parquet"):
        write_frame(tmp_path / "f.xlsx", pd.DataFrame(), "xlsx")


def test_atomic_writes_get_readable_permissions_or_keep_the_old_ones(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.txt"
    write_text_atomic(fresh, "x")
    assert fresh.stat().st_mode & 0o777 == 0o644
    private = tmp_path / "private.txt"
    private.write_text("old")
    private.chmod(0o600)
    write_text_atomic(private, "new")
    assert private.stat().st_mode & 0o777 == 0o600
