"""The experiment jobs behind ``churnguard experiment``: report, promote, stop.

An experiment runs in the service (``serving.experiment_mode`` shadow or ab, or
``POST /admin/experiment``); its predictions and the labels sent to ``/feedback`` land in the
prediction store. The report compares the variants there
(:func:`churnguard.monitoring.experiment.compare_variants`): paired in shadow mode (both
variants scored the same requests), unpaired in A/B mode. Promotion goes through the registry's
quality gate; stopping is recorded in the audit history; both can switch a running service back
to ``single`` and reload it (``--service-url``), without a restart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pandas as pd

from churnguard.config import ChurnguardConfig
from churnguard.errors import ChurnguardError
from churnguard.monitoring.experiment import ExperimentReport, compare_variants
from churnguard.monitoring.store import MonitoringStore

logger = logging.getLogger(__name__)


class ServiceCallError(ChurnguardError):
    """The running service refused or did not answer an admin call."""

    exit_code = 8


@dataclass(frozen=True)
class ServiceTarget:
    """A running churnguard service and its admin key."""

    url: str
    api_key: str


def experiment_frame(labeled: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """Labeled predictions → the comparison's input, and whether it is paired (shadow mode).

    Shadow mode logged the challenger's score of the same request row as a ``shadow`` row: the
    variants are then compared on the same customers. Otherwise (A/B) each row is its own.
    """
    paired = bool(labeled["shadow"].any()) if "shadow" in labeled else False
    frame = labeled.loc[:, ["variant", "request_key", "churn_probability", "churn", "actual"]]
    return frame, paired


def run_experiment_report(
    config: ChurnguardConfig,
    store_url: str | None = None,
    min_detectable_effect: float = 0.02,
) -> tuple[ExperimentReport, dict[str, list[str]]]:
    """Compare champion and challenger on their labeled predictions.

    Returns:
        The report and the model versions seen per variant.

    Raises:
        StoreUnavailableError: the store cannot be read.
        MonitoringInputError: too few labels, a variant missing, or unusable rows.
    """
    store = MonitoringStore(store_url or config.serving.store_url)
    try:
        labeled = store.labeled_predictions()
    finally:
        store.close()
    frame, paired = experiment_frame(labeled)
    report = compare_variants(frame, paired=paired, min_detectable_effect=min_detectable_effect)
    versions = {
        str(variant): sorted({str(v) for v in rows["model_version"]})
        for variant, rows in labeled.groupby("variant")
    }
    return report, versions


def _admin(target: ServiceTarget, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        response = httpx.post(
            f"{target.url.rstrip('/')}{path}",
            json=body,
            headers={"X-API-Key": target.api_key},
            timeout=120,
        )
    except httpx.HTTPError as exc:
        msg = f"the service at {target.url} did not answer {path} ({type(exc).__name__}): check --service-url"
        raise ServiceCallError(msg) from exc
    if response.status_code != 200:
        msg = f"the service at {target.url} refused {path} with {response.status_code}: {response.text[:300]}"
        raise ServiceCallError(msg)
    answer: dict[str, Any] = response.json()
    return answer


def end_in_service(target: ServiceTarget) -> dict[str, Any]:
    """Switch the running service to ``single`` and reload its models (atomic, no restart)."""
    _admin(target, "/admin/experiment", {"mode": "single"})
    return _admin(target, "/admin/reload")


def reload_service(target: ServiceTarget) -> dict[str, Any]:
    """Reload the running service's models (what the registry aliases point at now)."""
    return _admin(target, "/admin/reload")


def run_experiment_stop(config: ChurnguardConfig, reason: str, by: str | None = None) -> Any:
    """Record in the audit history that the experiment ended without promotion.

    Raises:
        RegistryError: no champion or challenger is registered.
    """
    from churnguard.models.bundle import registry_record
    from churnguard.models.history import HistoryEntry, append_history
    from churnguard.models.tracking import configure_mlflow

    configure_mlflow(config.mlflow, experiment=False)
    name = config.registry.model_name
    challenger = registry_record(name, "challenger")
    champion = registry_record(name, "champion")
    entry = HistoryEntry(
        action="experiment_stop",
        model_name=name,
        version=int(challenger.version),
        previous_champion=int(champion.version),
        run_id=challenger.run_id or "",
        metrics={f"challenger.{k}": v for k, v in challenger.metrics.items()},
        data_sha256=challenger.data_sha256 or "",
        at=datetime.now(UTC),
        by=by or "churnguard experiment stop",
        reason=reason,
    )
    append_history(config.registry.history_file, entry)
    return entry


__all__ = [
    "ServiceCallError",
    "ServiceTarget",
    "end_in_service",
    "experiment_frame",
    "reload_service",
    "run_experiment_report",
    "run_experiment_stop",
]
