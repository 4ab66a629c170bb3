"""Keep trying to load a model when the service started without one.

A service started before the first model was registered, or while the registry was down, is
alive but not ready. Instead of waiting for ``/admin/reload`` (or a restart), it tries again in
the background, after 1 s, then twice as long each time up to ``serving.load_retry_seconds``,
and stops once a model serves (loaded here or through ``/admin/reload``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from churnguard.api.config import ServingConfig
from churnguard.api.state import ModelSlot, ServedModel
from churnguard.models.config import MlflowConfig

logger = logging.getLogger(__name__)
_FIRST_DELAY = 1.0


class ModelRetrier:
    """Reload in a daemon thread until the slot serves a model.

    Args:
        slot: The app's model slot.
        serving: Where the model comes from, and ``load_retry_seconds`` (0: never retry).
        tracking: The MLflow settings of a registry model.
        on_loaded: Called with the model once a retry loaded it.
    """

    def __init__(
        self,
        slot: ModelSlot,
        serving: ServingConfig,
        tracking: MlflowConfig,
        on_loaded: Callable[[ServedModel], None],
    ) -> None:
        self._slot, self._serving, self._tracking = slot, serving, tracking
        self._on_loaded = on_loaded
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.attempts = 0

    def start(self) -> None:
        """Start retrying, unless a model serves already or retries are off."""
        if self._slot.holder.served is not None or self._serving.load_retry_seconds <= 0:
            return
        self._thread = threading.Thread(target=self._run, name="churnguard-load-retry", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop retrying (a load in progress finishes first, up to ``timeout``)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        delay = min(_FIRST_DELAY, self._serving.load_retry_seconds)
        reason = self._slot.holder.reason
        while not self._stopping.wait(delay):
            if self._slot.holder.served is not None:
                return  # /admin/reload got there first
            self.attempts += 1
            _, attempted = self._slot.reload(self._serving, self._tracking, quiet=True)
            if attempted.served is not None:
                logger.info(
                    "model loaded on retry",
                    extra={"version": attempted.served.version, "attempts": self.attempts},
                )
                self._on_loaded(attempted.served)
                return
            if attempted.reason != reason:
                reason = attempted.reason
                logger.warning("still no model loaded", extra={"reason": reason})
            delay = min(delay * 2, self._serving.load_retry_seconds)


__all__ = ["ModelRetrier"]
