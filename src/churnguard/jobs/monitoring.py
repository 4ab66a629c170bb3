"""The monitoring jobs behind ``churnguard monitor``: assess, report, check, retrain.

They read the prediction store the service logs to (``serving.store_url`` unless told
otherwise) and the drift reference of the served model (``serving.model_uri``) or a given
``drift_reference.json``; the work itself is in :mod:`churnguard.monitoring`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from churnguard.config import ChurnguardConfig
from churnguard.io import write_text_atomic
from churnguard.monitoring.monitor import Assessment, assess
from churnguard.monitoring.reference import DriftReference, read_drift_reference
from churnguard.monitoring.report import MonitoringReport, build_report, render_html
from churnguard.monitoring.store import MonitoringStore

logger = logging.getLogger(__name__)

#: Default location of ``churnguard monitor report`` (its JSON twin sits beside it).
REPORT_FILE = Path("reports/monitoring/report.html")


@dataclass(frozen=True)
class MonitorInputs:
    """Where a monitoring job reads from (command-line overrides of the configuration)."""

    store_url: str | None = None
    reference: Path | None = None
    window: int | None = None


def shown_url(url: str) -> str:
    """A store URL fit for reports and logs (password hidden)."""
    return make_url(url).render_as_string(hide_password=True)


def drift_reference(config: ChurnguardConfig, path: Path | None) -> DriftReference | None:
    """The reference at ``path``, else the one of the configured model (``serving.model_uri``).

    Raises:
        DriftReferenceError: ``path`` is missing or not a drift reference.
    """
    if path is not None:
        return read_drift_reference(path)
    from churnguard.api.state import load_drift_reference, resolve_model

    try:
        uri, record = resolve_model(config.serving, config.mlflow)
    except Exception as exc:  # no registry, no such alias: drift is unavailable, not an error
        logger.warning(
            "cannot find the served model's drift reference: pass --reference",
            extra={"model_uri": config.serving.model_uri, "reason": str(exc).splitlines()[0]},
        )
        return None
    return load_drift_reference(uri, record)


def run_assess(config: ChurnguardConfig, inputs: MonitorInputs) -> tuple[Assessment, str]:
    """Judge drift and quality on the logged predictions; returns the assessment and its source.

    Raises:
        StoreUnavailableError: the prediction store cannot be read.
        DriftReferenceError: an explicit reference file is missing or invalid.
        MonitoringInputError: the logged data does not fit the reference.
    """
    settings = config.monitoring
    if inputs.window is not None:
        settings = settings.model_copy(update={"drift_window": inputs.window})
    url = inputs.store_url or config.serving.store_url
    reference = drift_reference(config, inputs.reference)
    store = MonitoringStore(url)
    try:
        return assess(store, reference, settings), shown_url(url)
    finally:
        store.close()


def run_report(
    config: ChurnguardConfig, inputs: MonitorInputs, output: Path = REPORT_FILE
) -> MonitoringReport:
    """Write the HTML report to ``output`` and its JSON twin next to it (atomically).

    Raises:
        StoreUnavailableError: the prediction store cannot be read.
        ReportDependencyError: matplotlib is not installed.
    """
    assessment, source = run_assess(config, inputs)
    report = build_report(assessment, config.monitoring, source)
    page = render_html(report, config.monitoring)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(output.with_suffix(".json"), report.model_dump_json(indent=2))
    write_text_atomic(output, page)
    return report


def run_retrain(config: ChurnguardConfig) -> str:
    """Run the data stages and training: a new challenger is registered, nothing is promoted.

    Returns:
        The registered challenger version.
    """
    from churnguard.jobs.data import (
        run_build_features,
        run_ingest,
        run_preprocess,
        run_validate,
    )
    from churnguard.jobs.training import run_train

    for job in (run_ingest, run_validate, run_preprocess, run_build_features):
        job(config)
    result = run_train(config)
    logger.info("retrained on the monitoring trigger", extra={"version": result.registered_version})
    return str(result.registered_version)


__all__ = [
    "REPORT_FILE",
    "MonitorInputs",
    "drift_reference",
    "run_assess",
    "run_report",
    "run_retrain",
    "shown_url",
]
