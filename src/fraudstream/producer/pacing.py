"""How fast a replay goes: as fast as possible, in event time (scaled), and a rate cap."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from fraudstream.errors import ConfigError

_FACTOR = re.compile(r"^x(\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class Speed:
    """``max`` (``factor`` None), ``realtime`` (1.0) or ``xN`` (N times faster than realtime)."""

    factor: float | None

    @classmethod
    def parse(cls, text: str) -> Speed:
        """Read ``max``, ``realtime`` or ``xN`` (``x60``, ``x0.5``).

        Raises:
            ConfigError: anything else.
        """
        value = text.strip().lower()
        if value == "max":
            return cls(None)
        if value == "realtime":
            return cls(1.0)
        match = _FACTOR.match(value)
        factor = float(match.group(1)) if match else 0.0
        if factor <= 0:
            msg = (
                f"--speed {text!r}: give max (as fast as possible), realtime (event-time gaps "
                "slept) or xN (N times faster than realtime, e.g. x60)"
            )
            raise ConfigError(msg)
        return cls(factor)

    def __str__(self) -> str:
        if self.factor is None:
            return "max"
        return "realtime" if self.factor == 1.0 else f"x{self.factor:g}"


class Pacer:
    """Holds records back to their (scaled) event time and transactions to a rate cap.

    Waits happen on ``stop`` (an Event), so a stop request ends any wait at once.
    """

    def __init__(
        self,
        speed: Speed,
        rate: float | None,
        stop: threading.Event,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._factor = speed.factor
        self._rate = rate
        self._stop = stop
        self._clock = clock
        self._origin: tuple[float, int] | None = None
        # a token bucket: bursts of a tenth of a second at most
        self._capacity = max(1.0, rate / 10) if rate else 0.0
        self._tokens = self._capacity
        self._refilled = clock()

    @property
    def active(self) -> bool:
        """Whether this pacer ever waits (``max`` speed without a rate cap never does)."""
        return self._factor is not None or self._rate is not None

    def wait(self, event_us: int, is_transaction: bool) -> None:
        """Return when the record at ``event_us`` may go (or at once when a stop was asked)."""
        if self._factor is not None:
            self._wait_for_event_time(event_us, self._factor)
        if self._rate is not None and is_transaction:
            self._take_token(self._rate)

    def _wait_for_event_time(self, event_us: int, factor: float) -> None:
        now = self._clock()
        if self._origin is None:
            self._origin = (now, event_us)
            return
        wall, first_us = self._origin
        delay = wall + (event_us - first_us) / 1e6 / factor - now
        if delay > 0:
            self._stop.wait(delay)

    def _take_token(self, rate: float) -> None:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        if self._tokens < 1.0:
            delay = (1.0 - self._tokens) / rate
            self._stop.wait(delay)
            self._tokens = 1.0
            self._refilled = now + delay
        self._tokens -= 1.0


__all__ = ["Pacer", "Speed"]
