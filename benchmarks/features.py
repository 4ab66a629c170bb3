"""Time the offline feature computation on reference-size data (target: 1.75M rows in <= 5 s).

Usage: ``python benchmarks/features.py [--synthetic] [--repeat 3]``

The data comes from the simulator at the handbook's reference size (5,000 customers, 10,000
terminals, 183 days) when it is importable; otherwise (or with ``--synthetic``) from a random
frame of 1.75M rows with the same shape. The script says which it used.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from fraudstream.feature_store import FEATURE_NAMES, compute_features
from fraudstream.transactions import contract as c

REFERENCE = {"customers": 5_000, "terminals": 10_000, "days": 183, "seed": 0}
SYNTHETIC_ROWS = 1_754_155


def synthetic_transactions(rows: int = SYNTHETIC_ROWS, seed: int = 0) -> pd.DataFrame:
    """A random frame shaped like the reference simulation, in time (and id) order."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2018-04-01T00:00:00", "ns")
    seconds = np.sort(rng.integers(0, REFERENCE["days"] * 86_400, rows))
    fraud = (rng.random(rows) < 0.0084).astype(np.int64)
    delay_seconds = rng.integers(1 * 86_400, 14 * 86_400, rows)
    times = start + seconds.astype("timedelta64[s]")
    return pd.DataFrame(
        {
            c.TRANSACTION_ID: np.arange(rows, dtype=np.int64),
            c.TX_DATETIME: times,
            c.CUSTOMER_ID: rng.integers(0, REFERENCE["customers"], rows),
            c.TERMINAL_ID: rng.integers(0, REFERENCE["terminals"], rows),
            c.TX_AMOUNT: np.round(rng.gamma(2.0, 30.0, rows), 2),
            c.TX_TIME_SECONDS: seconds,
            c.TX_TIME_DAYS: seconds // 86_400,
            c.TX_FRAUD: fraud,
            c.TX_FRAUD_SCENARIO: fraud,
            c.TX_LABEL_DATETIME: times + delay_seconds.astype("timedelta64[s]"),
        }
    )


def reference_transactions(force_synthetic: bool) -> tuple[pd.DataFrame, str]:
    """The simulator's reference data if available, else the synthetic frame; and its origin."""
    if not force_synthetic:
        try:
            from fraudstream.simulator import SimulatorConfig, simulate
        except ImportError as exc:
            print(f"simulator not importable ({exc}); using synthetic data")
        else:
            frame = simulate(SimulatorConfig(**REFERENCE))
            return frame, f"simulator {REFERENCE}"
    return synthetic_transactions(), f"synthetic random frame (seed 0, {SYNTHETIC_ROWS:,} rows)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", action="store_true", help="skip the simulator")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is reported")
    args = parser.parse_args()
    frame, origin = reference_transactions(args.synthetic)
    print(f"data: {origin}: {len(frame):,} rows, {int(frame[c.TX_FRAUD].sum()):,} frauds")
    timings = []
    for _ in range(args.repeat):
        began = time.perf_counter()
        features = compute_features(frame)
        timings.append(time.perf_counter() - began)
    assert list(features.columns) == [c.TRANSACTION_ID, *FEATURE_NAMES]
    best = min(timings)
    runs = ", ".join(f"{t:.2f}" for t in timings)
    print(
        f"compute_features: best of {args.repeat}: {best:.2f} s ({runs}), "
        f"{len(frame) / best:,.0f} rows/s, {len(FEATURE_NAMES)} features"
    )


if __name__ == "__main__":
    main()
