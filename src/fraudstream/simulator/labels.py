"""When each simulated transaction's label becomes known.

The label of a transaction arrives ``delay`` days after it, plus a jitter uniform on
``[-jitter, +jitter]`` days truncated to whole seconds, and never before the transaction itself.
With no jitter every label arrives exactly ``delay`` days later.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_NS_PER_SECOND = 1_000_000_000
_SECONDS_PER_DAY = 86_400


def label_delays_ns(
    rows: int, delay_days: float, jitter_days: float, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Nanoseconds between each transaction and its label (always ``>= 0``).

    One uniform number is drawn per row whatever the jitter, so the draws do not depend on it.

    Args:
        rows: Number of transactions.
        delay_days: Mean delay in days.
        jitter_days: Half-width of the uniform jitter in days (0: exactly ``delay_days``).
        rng: The labels' own random stream.
    """
    delay_ns = round(delay_days * _SECONDS_PER_DAY * _NS_PER_SECOND)
    jitter_seconds = np.trunc(jitter_days * _SECONDS_PER_DAY * (2.0 * rng.random(rows) - 1.0))
    delay = delay_ns + jitter_seconds.astype(np.int64) * _NS_PER_SECOND
    return np.maximum(delay, 0)


__all__ = ["label_delays_ns"]
