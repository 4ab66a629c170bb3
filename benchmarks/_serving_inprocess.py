"""In-process timings of the serving benchmark: fast path, pipeline, batches, explanations.

Helper of ``benchmarks/serving.py``. Every figure is measured on the same loaded model the
servers serve, call by call with ``perf_counter_ns`` (single records) or per 1,000-row frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from churnguard.data.schema import FEATURE_COLUMNS
from churnguard.models.blend import LogOddsBlend
from churnguard.models.explain import unwrap_pipeline
from churnguard.models.predict import ChurnScorer

BATCH_ROWS = 1_000


def _call_ns(work: Callable[[Any], object], items: Sequence[Any]) -> np.ndarray:
    timings = np.empty(len(items), dtype=np.int64)
    clock = time.perf_counter_ns
    for i, item in enumerate(items):
        start = clock()
        work(item)
        timings[i] = clock() - start
    return timings


def per_call(
    work: Callable[[Any], object], items: Sequence[Any], warmup: int = 200
) -> dict[str, float]:
    """Median, p99 and mean of one call per item, in microseconds (after ``warmup`` calls)."""
    _call_ns(work, items[: min(warmup, len(items))])
    us = _call_ns(work, items) / 1000
    return {
        "n": len(items),
        "median_us": round(float(np.median(us)), 1),
        "p99_us": round(float(np.percentile(us, 99)), 1),
        "mean_us": round(float(us.mean()), 1),
    }


def per_batch(
    work: Callable[[Any], object], batches: Sequence[Any], rounds: int
) -> dict[str, float]:
    """Rows per second of ``work`` on 1,000-row batches (median wall time over ``rounds`` calls).

    Also the process CPU time per batch (every thread, e.g. LightGBM's OpenMP workers): other
    load on the machine disturbs it less than the wall time.
    """
    items = [batches[i % len(batches)] for i in range(rounds)]
    _call_ns(work, items[:3])
    cpu_start = time.process_time_ns()
    seconds = float(np.median(_call_ns(work, items))) / 1e9
    cpu_ms = (time.process_time_ns() - cpu_start) / 1e6 / len(items)
    return {
        "n": len(items),
        "median_ms_per_batch": round(seconds * 1000, 3),
        "rows_per_s": round(BATCH_ROWS / seconds),
        "cpu_ms_per_batch": round(cpu_ms, 3),
    }


def _booster(model: Any) -> Any:
    classifier = unwrap_pipeline(model).named_steps["classifier"]
    if isinstance(classifier, LogOddsBlend):
        return classifier.lightgbm_.booster_
    return getattr(classifier, "booster_", None)


def record_dicts(frame: pd.DataFrame, n: int) -> list[dict[str, Any]]:
    """``n`` records (processed types, customerID included), cycling through ``frame``."""
    records = frame.to_dict("records")
    return [records[i % len(records)] for i in range(n)]


def batches_of(frame: pd.DataFrame) -> list[pd.DataFrame]:
    """The full 1,000-row slices of ``frame``."""
    return [
        frame.iloc[start : start + BATCH_ROWS].reset_index(drop=True)
        for start in range(0, len(frame) - BATCH_ROWS + 1, BATCH_ROWS)
    ]


def measure_in_process(
    scorer: ChurnScorer, frame: pd.DataFrame, n_records: int, n_pipeline: int, batch_rounds: int
) -> dict[str, Any]:
    """Every in-process figure of the benchmark on ``frame`` (processed rows)."""
    model = scorer.model
    records = record_dicts(frame, n_records)
    one_row = [frame.iloc[[i % len(frame)]][list(FEATURE_COLUMNS)] for i in range(n_pipeline)]
    batches = batches_of(frame)
    features = [b[list(FEATURE_COLUMNS)] for b in batches]
    encoded = [scorer.compiled.encode_frame(b) for b in features]
    figures: dict[str, Any] = {
        "fast_path_record_probability": per_call(scorer.record_probability, records),
        "pipeline_predict_proba_one_row": per_call(model.predict_proba, one_row, warmup=20),
        "fast_path_record_contributions": per_call(scorer.record_contributions, records),
        "batch_churn_probability": per_batch(scorer.churn_probability, batches, batch_rounds),
        # What POST /predict/batch runs since it skips the DataFrame: lists per column.
        "batch_columns_probability": per_batch(
            scorer.columns_probability,
            [{c: b[c].tolist() for c in FEATURE_COLUMNS} for b in batches],
            batch_rounds,
        ),
        "batch_encode_frame": per_batch(scorer.compiled.encode_frame, features, batch_rounds),
        "batch_pipeline_predict_proba": per_batch(model.predict_proba, features, batch_rounds),
    }
    booster = _booster(model)
    if booster is not None:
        figures["batch_booster_predict"] = per_batch(
            lambda matrix: booster.predict(matrix, raw_score=True), encoded, batch_rounds
        )
    return figures


def max_fast_path_gap(scorer: ChurnScorer, frame: pd.DataFrame) -> float:
    """Largest |fast path - pipeline| probability over the rows of ``frame``."""
    pipeline = scorer.model.predict_proba(frame[list(FEATURE_COLUMNS)])[:, 1]
    fast = np.array([scorer.record_probability(r) for r in frame.to_dict("records")])
    return float(np.max(np.abs(fast - pipeline)))
