"""Configuration of monitoring (``monitoring`` section): prediction log, drift, quality, trigger."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class MonitoringConfig(BaseModel):
    """How predictions are logged and when drift or a quality drop raises the alarm."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # -- prediction log ----------------------------------------------------------------------
    #: Record every prediction (inputs, probability, label, latency) in the serving store.
    log_predictions: bool = True
    #: Records held in memory waiting for the writer; beyond it they go straight to the spool.
    #: A batch's rows (held as columns, ~0.3 KB each instead of ~3 KB) count as a tenth.
    log_queue_size: Annotated[int, Field(ge=1, le=10_000_000)] = 50_000
    #: Records per INSERT transaction (fewer, larger commits cost less per row: on sqlite,
    #: 5,000 rows per commit took ~30 % less CPU per row than 1,000 in a micro-benchmark).
    log_batch_size: Annotated[int, Field(ge=1, le=100_000)] = 5_000
    #: The writer flushes at least this often (seconds) even when a batch is not full.
    log_flush_seconds: Annotated[float, Field(gt=0, le=3600)] = 0.5
    #: Where records wait (JSON lines) while the database is unavailable.
    spool_dir: Path = Path("serving_spool")
    #: Disk the spool may use; records beyond it are dropped and counted.
    spool_max_bytes: Annotated[int, Field(ge=1024)] = 512 * 1024 * 1024
    #: Seconds between attempts to write the spool back once the database failed.
    retry_seconds: Annotated[float, Field(gt=0, le=3600)] = 2.0

    # -- drift ---------------------------------------------------------------------------------
    #: The current window: the last ``drift_window`` logged predictions.
    drift_window: Annotated[int, Field(ge=50, le=10_000_000)] = 5_000
    #: Fewer rows than this: no verdict ("insufficient data"), never a false alarm.
    drift_min_rows: Annotated[int, Field(ge=10)] = 200
    #: Significance level of the KS / chi-square tests.
    drift_alpha: Annotated[float, Field(gt=0, lt=1)] = 0.01
    #: A feature drifts when its PSI reaches this, or when its test is significant AND its
    #: effect size (KS statistic, Cohen's w) reaches ``drift_min_effect``: large windows make
    #: tiny, harmless differences significant, the effect size keeps them from alarming.
    psi_threshold: Annotated[float, Field(gt=0)] = 0.2
    drift_min_effect: Annotated[float, Field(gt=0, le=1)] = 0.1
    #: Dataset drift when at least this share of the features drift.
    drift_share_threshold: Annotated[float, Field(gt=0, le=1)] = 0.3
    #: Prediction drift (churn probability distribution) when its PSI reaches this.
    prediction_psi_threshold: Annotated[float, Field(gt=0)] = 0.2

    # -- quality from delayed labels -------------------------------------------------------
    #: Labeled predictions needed before quality is judged.
    quality_min_labels: Annotated[int, Field(ge=10)] = 200
    #: Alarm when rolling ROC-AUC falls below this.
    min_roc_auc: Annotated[float, Field(ge=0, le=1)] = 0.75
    #: Alarm when the expected calibration error exceeds this: the churn rate moved away from
    #: the predicted probabilities (label shift), which ROC-AUC alone does not see.
    max_calibration_error: Annotated[float, Field(gt=0, le=1)] = 0.1
    #: Rolling quality window (days) for the quality-over-time series.
    quality_window_days: Annotated[int, Field(ge=1, le=3650)] = 7

    # -- service background work and retraining trigger ----------------------------------
    #: Seconds between refreshes of the drift and quality gauges in ``/metrics``.
    refresh_seconds: Annotated[float, Field(gt=0, le=86_400)] = 60.0
    #: ``churnguard monitor check`` runs the training pipeline (new challenger, gate decides).
    retrain_on_trigger: bool = False


__all__ = ["MonitoringConfig"]
