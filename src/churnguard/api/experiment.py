"""Serving two model versions at once: which variant answers a customer, and shadow scoring.

Assignment is sticky and stateless: a customer's variant is a hash of the salt and their
``customerID``, so every replica, restart and request agrees without a shared table. A record
without ``customerID`` is assigned by its request id instead (the records of one request then
share their variant; a client that reuses its ``X-Request-ID`` gets the same variant again).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

logger = logging.getLogger(__name__)

Variant = Literal["champion", "challenger"]
ExperimentMode = Literal["single", "shadow", "ab"]
_SCALE = float(1 << 64)


def assignment_bucket(key: str, salt: str) -> float:
    """A uniform number in ``[0, 1)`` fixed by ``salt`` and ``key`` (blake2b, 64 bits)."""
    digest = hashlib.blake2b(f"{salt}\x1f{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def variant_for(customer_id: str | None, share: float, salt: str, request_id: str = "") -> Variant:
    """The variant that answers ``customer_id``: the challenger for a ``share`` of customers.

    Args:
        customer_id: The record's ``customerID``; ``None`` assigns by ``request_id``.
        share: Fraction of keys sent to the challenger, in ``[0, 1]``.
        salt: Mixed into the hash (``serving.assignment_salt``).
        request_id: The request's id, the key of a record without ``customerID``.

    Raises:
        ValueError: ``share`` is outside ``[0, 1]``.
    """
    if not 0.0 <= share <= 1.0:
        msg = f"the challenger's share must be within [0, 1], got {share}"
        raise ValueError(msg)
    key = customer_id if customer_id is not None else f"request:{request_id}"
    return "challenger" if assignment_bucket(key, salt) < share else "champion"


@dataclass(frozen=True)
class Experiment:
    """The mode the service runs in, and the challenger's share in ``ab`` mode."""

    mode: ExperimentMode = "single"
    share: float = 0.0
    salt: str = "churnguard"

    def assign(self, customer_id: str | None, request_id: str) -> Variant:
        """The variant answering a record (always the champion outside ``ab`` mode)."""
        if self.mode != "ab":
            return "champion"
        return variant_for(customer_id, self.share, self.salt, request_id)


class ShadowRunner:
    """Run shadow scoring on a bounded background pool, never on the request path.

    At most ``capacity`` jobs wait or run; beyond that a job is skipped and counted as an error
    (the champion's answer never waits for the challenger). A job that raises is counted and
    logged; only the first failure is logged with its traceback, to keep a broken challenger
    from flooding the logs.

    Args:
        on_error: Called once per failed or skipped job (e.g. a counter's ``inc``).
        capacity: Jobs allowed in flight.
        workers: Threads scoring the challenger.
    """

    def __init__(self, on_error: Callable[[], None], capacity: int = 64, workers: int = 1) -> None:
        self._on_error = on_error
        self._slots = threading.BoundedSemaphore(capacity)
        self._workers = workers
        self._pool = self._new_pool()
        self._logged = False

    def submit(self, job: Callable[[], None]) -> bool:
        """Queue ``job``; False (and counted) when the pool is full or shut down."""
        if not self._slots.acquire(blocking=False):
            self._failed("shadow queue full: challenger scoring skipped", None)
            return False
        try:
            self._pool.submit(self._run, job)
        except RuntimeError as exc:  # shut down
            self._slots.release()
            self._failed("shadow pool stopped", exc)
            return False
        return True

    def shutdown(self, wait: bool = True) -> None:
        """Finish (``wait``) or drop the queued jobs and stop the threads.

        The runner stays usable: an app started again (tests) gets a fresh pool.
        """
        pool, self._pool = self._pool, self._new_pool()
        pool.shutdown(wait=wait, cancel_futures=not wait)

    def _new_pool(self) -> ThreadPoolExecutor:
        # Threads start on the first job: an app that never shadows never has one.
        return ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="churnguard-shadow")

    def _run(self, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception as exc:  # a failing challenger must never reach the caller
            self._failed("shadow scoring failed", exc)
        finally:
            self._slots.release()

    def _failed(self, message: str, exc: Exception | None) -> None:
        self._on_error()
        if not self._logged:
            self._logged = True
            logger.error(
                message + " (further failures are only counted)",
                exc_info=exc,
                extra={"reason": f"{type(exc).__name__}: {exc}" if exc else message},
            )


__all__ = [
    "Experiment",
    "ExperimentMode",
    "ShadowRunner",
    "Variant",
    "assignment_bucket",
    "variant_for",
]
