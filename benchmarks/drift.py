"""Benchmark drift detection: speed, false-positive rate, and detection of injected drift.

1. Speed: ``detect_drift`` on a window of ``--rows`` rows x 20 columns (19 features and the churn
   probability), median and p95 of ``--repeats`` runs; also ``build_drift_reference``. The data
   is the CSV named by CHURNGUARD_REAL_DATA (window resampled from it), else synthetic.
2. False positives: for each of ``--seeds`` seeds, a reference built from a fresh synthetic
   sample (``--reference-rows`` customers, the model's probabilities on 1,500 others) and a window
   of ``--window`` customers from the same generator with another seed, no drift: share of runs
   with dataset drift / prediction drift, and the flag rate of every feature. With the real data,
   also random disjoint halves of it (features only).
3. Detection: the same, with drift injected into the window (``DriftSpec``): numeric shifts,
   category mixes, and the churn relation (a logit shift, and concept drift that removes the
   features' effect). The churn relation cannot move the features nor the model's
   probabilities, so its lines also report what the delayed labels show (quality module).

The model is the configured churnguard pipeline trained once on a synthetic sample.

Usage:
    .venv/bin/python benchmarks/drift.py [--rows 10000] [--repeats 30] [--seeds 50] \\
        [--window 5000] [--reference-rows 5000] [--output reports/benchmarks/drift.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churnguard.config import load_config
from churnguard.data.drift import DriftSpec
from churnguard.data.preprocess import coerce_types, preprocess_data
from churnguard.data.schema import FEATURE_COLUMNS
from churnguard.data.synthetic import generate_customers
from churnguard.io import write_text_atomic
from churnguard.models.estimators import build_model_pipeline
from churnguard.monitoring.config import MonitoringConfig
from churnguard.monitoring.drift import DriftReport, detect_drift
from churnguard.monitoring.quality import quality_by_version
from churnguard.monitoring.reference import (
    PREDICTION_COLUMN,
    DriftReference,
    build_drift_reference,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = Path("reports/benchmarks/drift.json")
REAL_DATA_ENV = "CHURNGUARD_REAL_DATA"
SPEED_TARGET_MS = 100.0

#: name → (drift, the feature the drift targets, or None)
SCENARIOS: dict[str, tuple[DriftSpec | None, str | None]] = {
    "none (false positives)": (None, None),
    "MonthlyCharges x1.05": (DriftSpec(numeric_shift={"MonthlyCharges": 1.05}), "MonthlyCharges"),
    "MonthlyCharges x1.10": (DriftSpec(numeric_shift={"MonthlyCharges": 1.10}), "MonthlyCharges"),
    "MonthlyCharges x1.20": (DriftSpec(numeric_shift={"MonthlyCharges": 1.20}), "MonthlyCharges"),
    "tenure x0.80": (DriftSpec(numeric_shift={"tenure": 0.8}), "tenure"),
    "Contract 65/20/15": (
        DriftSpec(
            category_mix={"Contract": {"Month-to-month": 0.65, "One year": 0.2, "Two year": 0.15}}
        ),
        "Contract",
    ),
    "Contract 85/10/5": (
        DriftSpec(
            category_mix={"Contract": {"Month-to-month": 0.85, "One year": 0.1, "Two year": 0.05}}
        ),
        "Contract",
    ),
    "InternetService 25/65/10": (
        DriftSpec(category_mix={"InternetService": {"DSL": 0.25, "Fiber optic": 0.65, "No": 0.1}}),
        "InternetService",
    ),
    "churn logit +1.0": (DriftSpec(churn_logit_shift=1.0), None),
    "churn coefficients x0 (concept)": (DriftSpec(churn_coefficient_scale=0.0), None),
    "churn coefficients x0.5": (DriftSpec(churn_coefficient_scale=0.5), None),
}


@dataclass(frozen=True)
class Scorer:
    """The served model stand-in: a fitted pipeline that adds the churn probability."""

    model: Any

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with ``churn_probability``."""
        return frame.assign(**{PREDICTION_COLUMN: self.model.predict_proba(frame)[:, 1]})


def _customers(n_rows: int, seed: int, drift: DriftSpec | None = None) -> pd.DataFrame:
    return coerce_types(generate_customers(n_rows, seed=seed, drift=drift))


def _train_scorer(rows: int) -> Scorer:
    config = load_config(ROOT / "configs" / "config.yaml", use_env=False)
    train = _customers(rows, seed=999_999)
    model = build_model_pipeline(config.features, config.model)
    model.fit(train[list(FEATURE_COLUMNS)], train["Churn"])
    return Scorer(model)


def _timings(work: Callable[[], object], repeats: int) -> dict[str, float]:
    for _ in range(3):
        work()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - start)
    ms = np.array(seconds) * 1000
    return {
        "median_ms": float(np.median(ms)),
        "p95_ms": float(np.percentile(ms, 95)),
        "runs": repeats,
    }


def speed(scorer: Scorer, rows: int, repeats: int, real: pd.DataFrame | None) -> dict[str, Any]:
    """Time ``build_drift_reference`` and ``detect_drift`` on a ``rows``-row window."""
    if real is not None:
        splits = preprocess_data(real)
        train, source = splits.train, "real"
        held_out = splits.test
        window = splits.test.sample(rows, replace=True, random_state=0).reset_index(drop=True)
    else:
        train, held_out, source = _customers(5000, 1), _customers(1500, 2), "synthetic"
        window = _customers(rows, 3)
    probabilities = scorer.model.predict_proba(held_out)[:, 1]
    window = scorer.score(window)
    reference = build_drift_reference(train, probabilities)
    config = MonitoringConfig()
    columns = [*FEATURE_COLUMNS, PREDICTION_COLUMN]
    detect = _timings(lambda: detect_drift(reference, window[columns], config), repeats)
    build = _timings(lambda: build_drift_reference(train, probabilities), max(5, repeats // 3))
    return {
        "data": source,
        "window_rows": rows,
        "window_columns": len(columns),
        "reference_rows": len(train),
        "detect_drift": detect | {"target_ms": SPEED_TARGET_MS},
        "build_drift_reference": build,
    }


def _references(scorer: Scorer, seeds: int, rows: int) -> list[DriftReference]:
    return [
        build_drift_reference(
            _customers(rows, 10_000 + seed),
            scorer.model.predict_proba(_customers(1500, 20_000 + seed))[:, 1],
        )
        for seed in range(seeds)
    ]


def _quality(window: pd.DataFrame, min_roc_auc: float) -> dict[str, float]:
    labeled = pd.DataFrame(
        {
            "model_version": "1",
            "created_at": pd.Timestamp("2025-01-01", tz="UTC"),
            "churn_probability": window[PREDICTION_COLUMN],
            "churn": window[PREDICTION_COLUMN] >= 0.5,
            "actual": window["Churn"] == 1,
        }
    )
    metrics = quality_by_version(labeled, min_labels=1)[0]
    assert metrics.roc_auc is not None
    assert metrics.ece is not None
    assert metrics.positive_rate is not None
    assert metrics.mean_probability is not None
    return {
        "roc_auc": metrics.roc_auc,
        "auc_alarm": float(metrics.roc_auc < min_roc_auc),
        "ece": metrics.ece,
        "label_gap": metrics.positive_rate - metrics.mean_probability,
    }


def _rates(reports: list[DriftReport], target: str | None) -> dict[str, Any]:
    n = len(reports)
    per_feature = {
        feature: sum(feature in r.drifted_features for r in reports) / n
        for feature in FEATURE_COLUMNS
    }
    return {
        "runs": n,
        "dataset_drift_rate": sum(r.dataset_drift for r in reports) / n,
        "prediction_drift_rate": sum(r.prediction_drift for r in reports) / n,
        "status_drift_rate": sum(r.status == "drift" for r in reports) / n,
        "mean_drift_share": statistics.fmean(r.drift_share for r in reports),
        "mean_prediction_psi": statistics.fmean(
            r.prediction.psi for r in reports if r.prediction is not None
        ),
        "target_feature": target,
        "target_flag_rate": per_feature[target] if target else None,
        "any_feature_flag_rate": sum(bool(r.drifted_features) for r in reports) / n,
        "feature_flag_rates": per_feature,
    }


def scenarios(scorer: Scorer, seeds: int, window_rows: int, reference_rows: int) -> dict[str, Any]:
    """Run every scenario of `SCENARIOS` over ``seeds`` references and windows."""
    config = MonitoringConfig()
    references = _references(scorer, seeds, reference_rows)
    results: dict[str, Any] = {}
    for name, (drift, target) in SCENARIOS.items():
        reports, quality = [], []
        for seed, reference in enumerate(references):
            window = scorer.score(_customers(window_rows, 30_000 + seed, drift))
            reports.append(detect_drift(reference, window, config))
            quality.append(_quality(window, config.min_roc_auc))
        results[name] = _rates(reports, target) | {
            "labels": {k: statistics.fmean(q[k] for q in quality) for k in quality[0]}
        }
    return results


def small_windows(scorer: Scorer, seeds: int, reference_rows: int) -> dict[str, Any]:
    """False positives at the smallest window judged (``drift_min_rows``), the noisiest case."""
    config = MonitoringConfig()
    references = _references(scorer, seeds, reference_rows)
    reports = [
        detect_drift(
            reference, scorer.score(_customers(config.drift_min_rows, 40_000 + seed)), config
        )
        for seed, reference in enumerate(references)
    ]
    return _rates(reports, None) | {"window_rows": config.drift_min_rows}


def real_halves(real: pd.DataFrame, seeds: int) -> dict[str, Any]:
    """False positives on the real data: random disjoint halves compared with each other."""
    frame = coerce_types(real)
    config = MonitoringConfig()
    reports = []
    for seed in range(seeds):
        order = np.random.default_rng(seed).permutation(len(frame))
        half = len(frame) // 2
        reference = build_drift_reference(frame.iloc[order[:half]], None)
        reports.append(detect_drift(reference, frame.iloc[order[half:]], config))
    rates = _rates_without_prediction(reports)
    return rates | {"rows_per_half": len(frame) // 2}


def _rates_without_prediction(reports: list[DriftReport]) -> dict[str, Any]:
    n = len(reports)
    return {
        "runs": n,
        "dataset_drift_rate": sum(r.dataset_drift for r in reports) / n,
        "any_feature_flag_rate": sum(bool(r.drifted_features) for r in reports) / n,
        "feature_flag_rates": {
            f: sum(f in r.drifted_features for r in reports) / n for f in FEATURE_COLUMNS
        },
    }


def _print(results: dict[str, Any]) -> None:
    timing = results["speed"]
    detect, build = timing["detect_drift"], timing["build_drift_reference"]
    print(
        f"speed ({timing['data']}, {timing['window_rows']:,} rows x {timing['window_columns']} "
        f"columns): detect_drift median {detect['median_ms']:.1f} ms, p95 {detect['p95_ms']:.1f} ms "
        f"(target <= {SPEED_TARGET_MS:.0f} ms, {detect['runs']} runs); build_drift_reference "
        f"({timing['reference_rows']:,} rows) median {build['median_ms']:.1f} ms"
    )
    print()
    header = f"{'scenario':<34}{'dataset':>9}{'predict':>9}{'target':>9}{'any feat':>10}{'AUC<min':>9}{'AUC':>7}{'ECE':>7}{'gap':>7}"
    print(header)
    print("-" * len(header))
    for name, row in results["scenarios"].items():
        labels = row["labels"]
        target = "-" if row["target_flag_rate"] is None else f"{row['target_flag_rate']:.0%}"
        print(
            f"{name:<34}{row['dataset_drift_rate']:>9.0%}{row['prediction_drift_rate']:>9.0%}"
            f"{target:>9}{row['any_feature_flag_rate']:>10.0%}{labels['auc_alarm']:>9.0%}"
            f"{labels['roc_auc']:>7.3f}{labels['ece']:>7.3f}{labels['label_gap']:>+7.3f}"
        )
    fp = results["scenarios"]["none (false positives)"]["feature_flag_rates"]
    print(f"\nper-feature false-flag rate, max: {max(fp.values()):.1%} ({max(fp, key=fp.get)})")
    small = results["small_windows"]
    print(
        f"windows of {small['window_rows']} rows (drift_min_rows), no drift: dataset drift "
        f"{small['dataset_drift_rate']:.0%}, prediction drift {small['prediction_drift_rate']:.0%}, "
        f"any feature flagged {small['any_feature_flag_rate']:.0%} of {small['runs']} runs"
    )
    if "real_halves" in results:
        real = results["real_halves"]
        print(
            f"real data, random halves of {real['rows_per_half']:,} rows: dataset drift "
            f"{real['dataset_drift_rate']:.0%}, any feature flagged {real['any_feature_flag_rate']:.0%} "
            f"of {real['runs']} runs"
        )


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000, help="rows of the timed window")
    parser.add_argument("--repeats", type=int, default=30, help="timed runs (at least 20)")
    parser.add_argument("--seeds", type=int, default=50, help="seeds per scenario (at least 50)")
    parser.add_argument("--window", type=int, default=5000, help="rows per scenario window")
    parser.add_argument("--reference-rows", type=int, default=5000)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    if args.repeats < 20 or args.seeds < 1:
        parser.error("--repeats must be at least 20 and --seeds at least 1")

    real_path = os.environ.get(REAL_DATA_ENV)
    real = pd.read_csv(real_path) if real_path and Path(real_path).is_file() else None
    started = time.perf_counter()
    scorer = _train_scorer(args.reference_rows)
    results: dict[str, Any] = {
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "settings": vars(args) | {"output": str(args.output)},
        "config": MonitoringConfig().model_dump(mode="json"),
        "speed": speed(scorer, args.rows, args.repeats, real),
        "scenarios": scenarios(scorer, args.seeds, args.window, args.reference_rows),
        "small_windows": small_windows(scorer, args.seeds, args.reference_rows),
    }
    if real is not None:
        results["real_halves"] = real_halves(real, args.seeds)
    results["seconds"] = time.perf_counter() - started
    _print(results)
    write_text_atomic(args.output, json.dumps(results, indent=2) + "\n")
    print(f"\nwritten: {args.output} ({results['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
