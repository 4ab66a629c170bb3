"""Configuration sections of the model registry: MLflow stores, the registered model, the gate.

The project configuration holds them as ``mlflow``, ``registry`` and ``gate``; the registry code
takes any object with those three attributes (:class:`RegistrySections`): the whole project
configuration, or a :class:`RegistrySettings` built for a test or a script.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from fraudstream.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MlflowConfig(_Section):
    """Where runs and registered models live.

    The embedded default is a sqlite database plus a local artifact folder (no server). Set
    ``FRAUDSTREAM_MLFLOW_TRACKING_URI=http://host:5000`` to use an ``mlflow server``.
    """

    tracking_uri: str = "sqlite:///mlflow.db"
    registry_uri: str | None = None
    artifact_location: str = "mlruns"
    experiment: str = "fraudstream"


class RegistryConfig(_Section):
    """The registered model and its audit history (a JSON file, rewritten atomically)."""

    model_name: Annotated[str, Field(min_length=1)] = "fraudstream"
    history_file: Path = Path("models/model_registry.json")


class GateConfig(_Section):
    """What a challenger must do to become champion.

    It must reach the champion's average precision and card precision@k, measured on the same
    test window, plus these margins (without a champion: the logistic baseline's). The default
    margins of 0.005 are deliberately small: a retrain on fresher data that is genuinely better
    passes, while a tie or a rounding-level difference does not replace the champion. Replacing
    a model is not free: the alerts the investigators see change under their feet. On a 7-day
    window with k = 100 alerts a day, 0.005 of card precision is about 3.5 more fraudulent cards
    among the week's 700 alerts.

    Attributes:
        margin_average_precision: Required gain in average precision.
        margin_card_precision: Required gain in card precision@k.
        require_both: Both metrics must clear their margin. When false, one clearing its margin
            is enough provided the other does not fall below the reference.
    """

    margin_average_precision: Annotated[float, Field(ge=0, le=1)] = 0.005
    margin_card_precision: Annotated[float, Field(ge=0, le=1)] = 0.005
    require_both: bool = True


@runtime_checkable
class RegistrySections(Protocol):
    """Anything holding the three registry sections (the project configuration does)."""

    @property
    def mlflow(self) -> MlflowConfig:
        """The MLflow stores."""

    @property
    def registry(self) -> RegistryConfig:
        """The registered model and its history file."""

    @property
    def gate(self) -> GateConfig:
        """The promotion rules."""


class RegistrySettings(_Section):
    """The three registry sections on their own (tests, scripts)."""

    mlflow: MlflowConfig = MlflowConfig()
    registry: RegistryConfig = RegistryConfig()
    gate: GateConfig = GateConfig()


def registry_sections(config: object) -> RegistrySections:
    """``config`` as :class:`RegistrySections`, checked.

    Raises:
        ConfigError: the configuration lacks the ``mlflow``, ``registry`` or ``gate`` section.
    """
    if not isinstance(config, RegistrySections):
        missing = [name for name in ("mlflow", "registry", "gate") if not hasattr(config, name)]
        msg = (
            f"the configuration has no {', '.join(missing)} section(s), which the model registry "
            "needs: this fraudstream build does not wire them into its configuration yet"
        )
        raise ConfigError(msg)
    return config


__all__ = [
    "GateConfig",
    "MlflowConfig",
    "RegistryConfig",
    "RegistrySections",
    "RegistrySettings",
    "registry_sections",
]
