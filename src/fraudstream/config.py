"""Load and validate fraudstream's configuration once, at the edge.

Values come from a YAML file (``configs/config.yaml`` by default) overridden by environment
variables ``FRAUDSTREAM_<SECTION>_<KEY>`` (for example ``FRAUDSTREAM_DATA_SOURCE`` or
``FRAUDSTREAM_SIMULATOR_SEED``; nested values as JSON, e.g.
``FRAUDSTREAM_SIMULATOR_DRIFT='[...]'``). The result is one frozen pydantic model; unknown keys,
in the file or the environment, are errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from fraudstream.broker.config import KafkaConfig
from fraudstream.errors import ConfigError
from fraudstream.feature_store.online.config import RedisConfig
from fraudstream.producer.config import ReplayConfig
from fraudstream.simulator import SimulatorConfig
from fraudstream.stream_scorer.config import StreamConfig
from fraudstream.training.config import DataSourceConfig, ValidationConfig
from fraudstream.training.model_config import ModelConfig, TuningConfig
from fraudstream.training.protocol import ProtocolConfig
from fraudstream.training.registry_config import GateConfig, MlflowConfig, RegistryConfig

ENV_PREFIX = "FRAUDSTREAM_"
DEFAULT_CONFIG_PATH = Path("configs/config.yaml")
DEFAULT_LOGGING_PATH = Path("configs/logging.yaml")


class PathsConfig(BaseModel):
    """Where each stage reads and writes, relative to the working directory."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    raw_dir: Path = Path("data/raw")
    processed_dir: Path = Path("data/processed")
    features_dir: Path = Path("data/features")
    reports_dir: Path = Path("reports")


class _EnvOverYaml(BaseSettings):
    """Settings whose YAML values (passed as init values) are overridden by the environment."""

    #: Whether ``FRAUDSTREAM_*`` variables count (DVC stages read the resolved file alone).
    _use_env: ClassVar[bool] = True

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment variables win over the YAML file (passed as init values)."""
        return (env_settings, init_settings) if cls._use_env else (init_settings,)


class FraudstreamConfig(_EnvOverYaml):
    """The whole, validated configuration of one fraudstream run."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="forbid",
        frozen=True,
    )

    paths: PathsConfig = PathsConfig()
    data: DataSourceConfig = DataSourceConfig()
    simulator: SimulatorConfig = SimulatorConfig()
    validation: ValidationConfig = ValidationConfig()
    protocol: ProtocolConfig = ProtocolConfig()
    model: ModelConfig = ModelConfig()
    tuning: TuningConfig = TuningConfig()
    mlflow: MlflowConfig = MlflowConfig()
    registry: RegistryConfig = RegistryConfig()
    gate: GateConfig = GateConfig()
    kafka: KafkaConfig = KafkaConfig()
    redis: RedisConfig = RedisConfig()
    stream: StreamConfig = StreamConfig()
    replay: ReplayConfig = ReplayConfig()


class LoggingConfig(_EnvOverYaml):
    """Logging: level, and JSON lines or human text (``auto`` = human on a terminal)."""

    model_config = SettingsConfigDict(env_prefix="FRAUDSTREAM_LOG_", extra="forbid", frozen=True)

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "json", "human"] = "auto"
    quiet_loggers: dict[str, Literal["DEBUG", "INFO", "WARNING", "ERROR"]] = {}


class _FileOnlyConfig(FraudstreamConfig):
    """The same configuration, read from the file alone (environment ignored)."""

    _use_env: ClassVar[bool] = False


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        msg = (
            f"config file {path} does not exist. Pass --config PATH (or set FRAUDSTREAM_CONFIG) "
            "or run from the fraudstream project folder, where configs/config.yaml lives."
        )
        raise ConfigError(msg)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        msg = f"config file {path} is not valid YAML: {exc}"
        raise ConfigError(msg) from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        msg = f"config file {path} must hold a mapping of sections, got {type(loaded).__name__}"
        raise ConfigError(msg)
    return loaded


def _explain(error: ValidationError, path: Path) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        env_name = ENV_PREFIX + "_".join(str(part).upper() for part in item["loc"][:2])
        if item["type"] == "extra_forbidden":
            lines.append(
                f"unknown key '{where}' (in {path} or {env_name}): remove it or fix its spelling"
            )
        else:
            lines.append(
                f"'{where}' = {item.get('input')!r}: {item['msg']} (set in {path} or {env_name})"
            )
    return f"invalid configuration: {'; '.join(lines)}."


def load_config(path: Path = DEFAULT_CONFIG_PATH, *, use_env: bool = True) -> FraudstreamConfig:
    """Read ``path``, apply overrides, validate.

    ``FRAUDSTREAM_*`` environment overrides apply unless ``use_env`` is false.

    DVC stages read the resolved ``params.yaml`` with ``use_env=False``, so what DVC recorded is
    exactly what ran.

    Raises:
        ConfigError: the file is missing or malformed, or a value or key is invalid.
    """
    values = _read_yaml(path)
    try:
        return FraudstreamConfig(**values) if use_env else _FileOnlyConfig(**values)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, path)) from exc
    except SettingsError as exc:
        msg = (
            f"cannot read the {ENV_PREFIX}* overrides ({exc}): nested values must be valid JSON, "
            f"""e.g. {ENV_PREFIX}SIMULATOR_DRIFT='[{{"kind": "amount-shift", "from_day": 90}}]'"""
        )
        raise ConfigError(msg) from exc


def load_logging_config(path: Path = DEFAULT_LOGGING_PATH) -> LoggingConfig:
    """Read the logging YAML (defaults when it is absent) with ``FRAUDSTREAM_LOG_*`` overrides."""
    values = _read_yaml(path) if path.is_file() else {}
    try:
        return LoggingConfig(**values)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, path)) from exc


def dump_config(config: FraudstreamConfig) -> str:
    """Render the resolved configuration as YAML (what DVC records as ``params.yaml``)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


__all__ = [
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_LOGGING_PATH",
    "FraudstreamConfig",
    "LoggingConfig",
    "PathsConfig",
    "dump_config",
    "load_config",
    "load_logging_config",
]
