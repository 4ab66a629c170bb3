"""Tests of the configuration: YAML file, FRAUDSTREAM_* overrides, one frozen validated model."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from fraudstream.config import FraudstreamConfig, dump_config, load_config, load_logging_config
from fraudstream.errors import ConfigError
from fraudstream.simulator import AmountShiftDrift, NewPatternDrift

REPO_ROOT = Path(__file__).resolve().parents[1]
REPO_CONFIG = REPO_ROOT / "configs" / "config.yaml"

pytestmark = pytest.mark.unit


def _write(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def _keys(tree: dict[str, Any], prefix: str = "") -> set[str]:
    """Every dotted key of a nested mapping (a mapping value counts as a section, not a leaf)."""
    keys: set[str] = set()
    for name, value in tree.items():
        dotted = f"{prefix}{name}"
        keys.add(dotted)
        if isinstance(value, dict) and value:
            keys |= _keys(value, f"{dotted}.")
    return keys


# --- the repository's file -------------------------------------------------------------------


def test_repo_config_loads_with_the_documented_defaults() -> None:
    config = load_config(REPO_CONFIG)

    assert config.data.source == "simulator"
    assert config.data.checksums == {}
    assert (config.simulator.customers, config.simulator.terminals, config.simulator.days) == (
        5000,
        10_000,
        183,
    )
    assert config.simulator.start_date == date(2018, 4, 1)
    assert config.simulator.drift == ()
    assert config.paths.raw_dir == Path("data/raw")


def test_repo_config_spells_out_every_setting() -> None:
    written = yaml.safe_load(REPO_CONFIG.read_text())

    every_setting = _keys(FraudstreamConfig().model_dump(mode="json"))

    assert _keys(written) == every_setting


def test_dvc_yaml_reads_every_section_it_names_from_the_config() -> None:
    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]
    sections = set(FraudstreamConfig.model_fields)

    named = {p for stage in stages.values() for p in stage.get("params", [])}

    assert named
    assert named <= sections


# --- environment overrides -------------------------------------------------------------------


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(
        tmp_path / "c.yaml", {"data": {"source": "a.csv"}, "simulator": {"seed": 1, "days": 60}}
    )
    monkeypatch.setenv("FRAUDSTREAM_DATA_SOURCE", "simulator")
    monkeypatch.setenv("FRAUDSTREAM_SIMULATOR_SEED", "9")

    config = load_config(path)

    assert (config.data.source, config.simulator.seed) == ("simulator", 9)
    assert config.simulator.days == 60  # the file's other keys of the section stay


def test_a_nested_value_comes_from_the_environment_as_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "c.yaml", {"data": {"download": {"retries": 5}}})
    monkeypatch.setenv(
        "FRAUDSTREAM_SIMULATOR_DRIFT",
        '[{"kind": "amount-shift", "from_day": 90, "factor": 1.5},'
        ' {"kind": "new-pattern", "from_day": 100, "cards": 3}]',
    )
    monkeypatch.setenv("FRAUDSTREAM_DATA_DOWNLOAD", '{"timeout_seconds": 2}')

    config = load_config(path)

    assert config.simulator.drift == (
        AmountShiftDrift(from_day=90, factor=1.5),
        NewPatternDrift(from_day=100, cards=3),
    )
    assert (config.data.download.timeout_seconds, config.data.download.retries) == (2.0, 5)


def test_no_env_reads_the_file_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "c.yaml", {"data": {"source": "a.csv"}, "simulator": {"seed": 4}})
    monkeypatch.setenv("FRAUDSTREAM_DATA_SOURCE", "simulator")
    monkeypatch.setenv("FRAUDSTREAM_SIMULATOR_SEED", "9")

    config = load_config(path, use_env=False)

    assert (config.data.source, config.simulator.seed) == ("a.csv", 4)


def test_no_env_ignores_even_a_broken_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "c.yaml", {})
    monkeypatch.setenv("FRAUDSTREAM_SIMULATOR_SEEED", "3")

    assert load_config(path, use_env=False).simulator.seed == 0


def test_unknown_key_from_the_environment_is_an_error_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "c.yaml", {})
    monkeypatch.setenv("FRAUDSTREAM_SIMULATOR_SEEED", "3")

    with pytest.raises(ConfigError, match=r"unknown key 'simulator\.seeed'") as caught:
        load_config(path)

    assert "FRAUDSTREAM_SIMULATOR_SEEED" in str(caught.value)


def test_invalid_value_from_the_environment_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "c.yaml", {})
    monkeypatch.setenv("FRAUDSTREAM_SIMULATOR_SEED", "minus one")

    with pytest.raises(ConfigError, match=r"'simulator\.seed' = 'minus one'"):
        load_config(path)


def test_malformed_json_in_a_nested_override_is_a_config_error_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "c.yaml", {})
    monkeypatch.setenv("FRAUDSTREAM_SIMULATOR_DRIFT", "[{not json")

    with pytest.raises(ConfigError, match="simulator") as caught:
        load_config(path)

    assert "JSON" in str(caught.value)


# --- what the file may hold ------------------------------------------------------------------


def test_unknown_key_in_the_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.yaml", {"data": {"sorce": "x"}})

    with pytest.raises(ConfigError, match=r"unknown key 'data\.sorce'"):
        load_config(path)


def test_unknown_section_in_the_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.yaml", {"split": {"seed": 42}})

    with pytest.raises(ConfigError, match=r"unknown key 'split'"):
        load_config(path)


def test_unknown_key_in_a_drift_spec_is_an_error(tmp_path: Path) -> None:
    spec = {"kind": "amount-shift", "from_day": 3, "factr": 2}
    path = _write(tmp_path / "c.yaml", {"simulator": {"days": 10, "drift": [spec]}})

    with pytest.raises(ConfigError, match="factr"):
        load_config(path)


def test_invalid_value_names_the_key_and_the_value(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.yaml", {"simulator": {"customers": 0}})

    with pytest.raises(ConfigError, match=r"'simulator\.customers' = 0"):
        load_config(path)


def test_a_drift_spec_outside_the_simulated_days_is_rejected(tmp_path: Path) -> None:
    spec = {"kind": "amount-shift", "from_day": 30}
    path = _write(tmp_path / "c.yaml", {"simulator": {"days": 30, "drift": [spec]}})

    with pytest.raises(ConfigError, match="from=30 is not a simulated day"):
        load_config(path)


def test_bad_checksum_format_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.yaml", {"data": {"checksums": {"x.csv": "abc"}}})

    with pytest.raises(ConfigError, match="checksums"):
        load_config(path)


def test_sql_query_and_table_are_exclusive(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.yaml", {"data": {"sql_query": "SELECT 1", "sql_table": "t"}})

    with pytest.raises(ConfigError, match=r"either data\.sql_query or data\.sql_table"):
        load_config(path)


def test_download_limits_must_be_positive(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.yaml", {"data": {"download": {"timeout_seconds": 0}}})

    with pytest.raises(ConfigError, match=r"'data\.download\.timeout_seconds' = 0"):
        load_config(path)


def test_missing_config_file_says_how_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--config PATH"):
        load_config(tmp_path / "nope.yaml")


def test_malformed_yaml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("data: [unclosed\n")

    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_yaml_that_is_not_a_mapping_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("- a\n- b\n")

    with pytest.raises(ConfigError, match="mapping of sections"):
        load_config(path)


def test_empty_yaml_gives_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("")

    config = load_config(path)

    assert (config.data.source, config.simulator.seed) == ("simulator", 0)


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path / "c.yaml", {}))

    with pytest.raises(ValueError, match="frozen"):
        config.simulator.seed = 1  # type: ignore[misc]


# --- params.yaml: what DVC records -----------------------------------------------------------


def test_dump_config_round_trips(tmp_path: Path) -> None:
    spec = {"kind": "terminal-burst", "from_day": 5, "terminals": 10}
    config = load_config(
        _write(tmp_path / "c.yaml", {"simulator": {"seed": 5, "days": 20, "drift": [spec]}})
    )

    again = _write(tmp_path / "again.yaml", yaml.safe_load(dump_config(config)))

    assert load_config(again, use_env=False).model_dump() == config.model_dump()


def test_dumped_overrides_reproduce_the_run_without_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "c.yaml", {"simulator": {"seed": 1}})
    monkeypatch.setenv("FRAUDSTREAM_SIMULATOR_SEED", "9")
    params = tmp_path / "params.yaml"
    params.write_text(dump_config(load_config(path)))
    monkeypatch.delenv("FRAUDSTREAM_SIMULATOR_SEED")

    assert load_config(params, use_env=False).simulator.seed == 9


# --- logging ---------------------------------------------------------------------------------


def test_logging_config_reads_file_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "logging.yaml", {"level": "WARNING", "format": "human"})
    monkeypatch.setenv("FRAUDSTREAM_LOG_FORMAT", "json")

    config = load_logging_config(path)

    assert (config.level, config.format) == ("WARNING", "json")


def test_logging_config_defaults_when_the_file_is_absent(tmp_path: Path) -> None:
    assert load_logging_config(tmp_path / "none.yaml").format == "auto"


def test_repo_logging_config_is_valid() -> None:
    config = load_logging_config(REPO_ROOT / "configs" / "logging.yaml")

    assert config.level in {"DEBUG", "INFO", "WARNING", "ERROR"}


def test_bad_log_level_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="level"):
        load_logging_config(_write(tmp_path / "logging.yaml", {"level": "LOUD"}))


def test_unknown_logging_key_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key 'colour'"):
        load_logging_config(_write(tmp_path / "logging.yaml", {"colour": True}))
