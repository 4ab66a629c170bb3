"""Benchmark the data stages: synthetic generation, validation, preprocessing, features.

Usage:
    .venv/bin/python benchmarks/data_pipeline.py [--rows 1000000] [--repeats 3]

Prints one line per measurement (median wall time of ``--repeats`` runs, rows per second) and
the peak RSS of the process. When CHURNGUARD_REAL_DATA names the IBM Telco CSV, the stages are
also timed on it.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from churnguard.data.preprocess import preprocess_data
from churnguard.data.synthetic import generate_customers
from churnguard.data.validate import validate_data
from churnguard.features import FeatureConfig, build_feature_pipeline, build_reference_profile


def _median_seconds(work: Callable[[], object], repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def _report(name: str, rows: int, seconds: float) -> None:
    print(f"{name:<40} {rows:>10,} rows  {seconds:8.3f} s  {rows / seconds:>12,.0f} rows/s")


def _stages(label: str, raw: pd.DataFrame, repeats: int) -> None:
    _report(
        f"{label}: validate_data", len(raw), _median_seconds(lambda: validate_data(raw), repeats)
    )
    _report(
        f"{label}: preprocess_data",
        len(raw),
        _median_seconds(lambda: preprocess_data(raw), repeats),
    )
    train = preprocess_data(raw).train
    config = FeatureConfig()
    fit = _median_seconds(lambda: build_feature_pipeline(config).fit_transform(train), repeats)
    _report(f"{label}: feature pipeline fit_transform", len(train), fit)
    profile = _median_seconds(lambda: build_reference_profile(train, config), repeats)
    _report(f"{label}: reference profile", len(train), profile)


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    seconds = _median_seconds(lambda: generate_customers(args.rows, seed=1), args.repeats)
    _report("synthetic: generate_customers", args.rows, seconds)
    _stages("synthetic", generate_customers(args.rows, seed=1), max(1, args.repeats // 2))

    real = os.environ.get("CHURNGUARD_REAL_DATA")
    if real and Path(real).is_file():
        _stages("real", pd.read_csv(real), args.repeats)
    else:
        print("real data: skipped (set CHURNGUARD_REAL_DATA to the IBM Telco CSV)")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
