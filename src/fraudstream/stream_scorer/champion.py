"""The model the stream scores with: the registry's champion, followed without stopping.

The holder loads ``models:/<name>@champion`` at start, then asks the registry every few seconds
which version the alias points to. A new version is loaded completely (downloaded, hash-checked,
feature definition checked) before the reference is swapped, and the scorer reads the reference
once per batch: a promotion or a rollback takes effect at a batch boundary, and no event is ever
scored by a half-loaded model. A version built for other features is refused and the current
model stays.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from fraudstream.config import FraudstreamConfig
from fraudstream.training.model_loading import LoadedModel, load_model
from fraudstream.training.serialization import ModelLoadError
from fraudstream.training.tracking import configure_mlflow

logger = logging.getLogger(__name__)

CHAMPION_ALIAS = "champion"


@dataclass
class ChampionHolder:
    """The current champion and what happened when following the registry.

    Attributes:
        config: The project configuration (MLflow stores, registered model name).
        loader: Loads a model URI (``load_model``; a test may pass another loader).
        current: The model scoring now (``None`` before :meth:`load_initial`).
        swaps: How many times the model changed after the start.
        refused: Versions refused, with why (a model for other features, a bad file).
    """

    config: FraudstreamConfig
    loader: Callable[[str], LoadedModel] = load_model
    current: LoadedModel | None = None
    swaps: int = 0
    refused: dict[int, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def model_name(self) -> str:
        """The registered model's name."""
        return self.config.registry.model_name

    def uri(self, version: int | None = None) -> str:
        """``models:/name@champion``, or a pinned version."""
        if version is None:
            return f"models:/{self.model_name}@{CHAMPION_ALIAS}"
        return f"models:/{self.model_name}/{version}"

    def load_initial(self) -> LoadedModel:
        """Load the champion; raises :class:`ModelLoadError` when there is none usable."""
        configure_mlflow(self.config.mlflow, experiment=False)
        model = self.loader(self.uri())
        with self._lock:
            self.current = model
        logger.info("scoring with %s version %s", self.model_name, model.version)
        return model

    def champion_version(self) -> int | None:
        """The version the alias points to now (``None`` when the registry has no champion)."""
        try:
            found = MlflowClient().get_model_version_by_alias(self.model_name, CHAMPION_ALIAS)
        except MlflowException:
            return None
        return int(found.version)

    def refresh(self) -> bool:
        """Follow the alias: load and swap to a new champion version; ``True`` when it changed.

        A version that cannot be loaded (other features, bad file) is refused once, logged, and
        the current model stays.
        """
        version = self.champion_version()
        current = self.current
        if version is None or (current is not None and current.version == version):
            return False
        if version in self.refused:
            return False
        try:
            model = self.loader(self.uri(version))
        except ModelLoadError as exc:
            self.refused[version] = str(exc)
            logger.error("refused champion version %s: %s", version, exc)
            return False
        with self._lock:
            self.current = model
            self.swaps += 1
        logger.info("champion changed: now scoring with version %s", version)
        return True

    def model(self) -> LoadedModel:
        """The model to score the next batch with."""
        model = self.current
        if model is None:
            msg = "no champion loaded: call load_initial() first"
            raise ModelLoadError(msg)
        return model


__all__ = ["CHAMPION_ALIAS", "ChampionHolder"]
