"""Tests of structured logging: JSON lines or human text, tagged with the pipeline stage."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from fraudstream.config import LoggingConfig
from fraudstream.logs import configure_logging, stage

pytestmark = pytest.mark.unit


@pytest.fixture
def restore_root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_root_logger")
def test_json_lines_carry_timestamp_stage_and_extras() -> None:
    stream = io.StringIO()
    configure_logging(LoggingConfig(format="json"), stream=stream)
    with stage("ingest"):
        logging.getLogger("fraudstream.test").info("ingested", extra={"rows": 12})
    record = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert record["stage"] == "ingest"
    assert record["msg"] == "ingested"
    assert record["rows"] == 12
    assert record["level"] == "INFO"
    assert record["ts"].endswith("+00:00")


@pytest.mark.usefixtures("restore_root_logger")
def test_stage_is_reset_after_the_block() -> None:
    stream = io.StringIO()
    configure_logging(LoggingConfig(format="json"), stream=stream)
    with stage("validate"):
        pass
    logging.getLogger("fraudstream.test").warning("outside")
    assert json.loads(stream.getvalue().strip())["stage"] is None


@pytest.mark.usefixtures("restore_root_logger")
def test_auto_format_is_json_when_not_a_terminal() -> None:
    stream = io.StringIO()
    configure_logging(LoggingConfig(format="auto"), stream=stream)
    logging.getLogger("fraudstream.test").info("hello")
    assert json.loads(stream.getvalue())["msg"] == "hello"


@pytest.mark.usefixtures("restore_root_logger")
def test_human_format_shows_stage_and_extras() -> None:
    stream = io.StringIO()
    configure_logging(LoggingConfig(format="human"), stream=stream)
    with stage("features"):
        logging.getLogger("fraudstream.test").info("built", extra={"rows": 3})
    line = stream.getvalue()
    assert "[features] built" in line
    assert "rows=3" in line


@pytest.mark.usefixtures("restore_root_logger")
def test_exceptions_are_logged_with_their_traceback() -> None:
    stream = io.StringIO()
    configure_logging(LoggingConfig(format="json"), stream=stream)
    try:
        raise ValueError("bad")
    except ValueError:
        logging.getLogger("fraudstream.test").exception("failed")
    assert "ValueError: bad" in json.loads(stream.getvalue())["exc"]


@pytest.mark.usefixtures("restore_root_logger")
def test_level_and_quiet_loggers_are_applied() -> None:
    stream = io.StringIO()
    configure_logging(
        LoggingConfig(level="WARNING", format="json", quiet_loggers={"noisy": "ERROR"}),
        stream=stream,
    )
    logging.getLogger("fraudstream.test").info("hidden")
    logging.getLogger("noisy").warning("hidden too")
    assert stream.getvalue() == ""


@pytest.mark.usefixtures("restore_root_logger")
def test_a_nested_stage_gives_way_to_the_outer_one_when_it_ends() -> None:
    stream = io.StringIO()
    configure_logging(LoggingConfig(format="json"), stream=stream)
    log = logging.getLogger("fraudstream.test")
    with stage("pipeline"):
        with stage("ingest"):
            log.info("inner")
        log.info("outer")
    stages = [json.loads(line)["stage"] for line in stream.getvalue().splitlines()]
    assert stages == ["ingest", "pipeline"]


@pytest.mark.usefixtures("restore_root_logger")
def test_extras_that_are_not_json_are_written_as_text() -> None:
    stream = io.StringIO()
    configure_logging(LoggingConfig(format="json"), stream=stream)
    logging.getLogger("fraudstream.test").info("wrote", extra={"path": Path("data/raw")})
    assert json.loads(stream.getvalue())["path"] == "data/raw"
