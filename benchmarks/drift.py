"""Drift detectors on simulated streams: detection delay per injected change, false alarms.

    python benchmarks/drift.py [--change-day 120] [--from-day 40]

Simulates the reference population four times with the same seed: once stationary and once with
each of the simulator's injected changes starting on ``--change-day``. Each stream is scored by
the registry's champion (run ``make demo`` first) on the offline features (the same declaration
the stream computes online), then fed in event-time order, from ``--from-day`` (past the
features' longest lookback, as a stream starting on a warmed store), to one
:class:`~fraudstream.monitoring.drift.DriftMonitor`. The error rate is fed in the order labels
became known. Reported: per change and signal, the first alarm at or after the change and its
delay in simulated days; alarms before the change (false); on the stationary stream, alarms per
signal and per 100,000 events; the detectors' cost per update. Results in
``benchmarks/results/drift.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fraudstream.config import load_config
from fraudstream.feature_store import compute_features
from fraudstream.monitoring.drift import FEATURE_SIGNALS, DriftMonitor, Signal
from fraudstream.simulator import SimulatorConfig, parse_drift, simulate
from fraudstream.stream_scorer.champion import ChampionHolder
from fraudstream.training.data import join_features
from fraudstream.training.model_loading import LoadedModel
from fraudstream.transactions import contract as c

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CHANGES = ("amount-shift:from={day}", "terminal-burst:from={day}", "new-pattern:from={day}")


def _signals(frame: pd.DataFrame, model: LoadedModel) -> dict[Signal, tuple[np.ndarray, list[Any]]]:
    """Each signal's values and event times, in the order the stream would see them."""
    joined = join_features(frame, compute_features(frame))
    joined = joined.sort_values([c.TX_DATETIME, c.TRANSACTION_ID], kind="stable")
    probability = model.predict_proba(joined)
    alert = probability >= model.threshold
    times = list(joined[c.TX_DATETIME])
    signals: dict[Signal, tuple[np.ndarray, list[Any]]] = {
        Signal.SCORE: (probability, times),
        Signal.ALERT_RATE: (alert.astype(float), times),
    }
    for signal, feature in FEATURE_SIGNALS.items():
        signals[signal] = (joined[feature].to_numpy(float), times)
    by_label = np.argsort(joined[c.TX_LABEL_DATETIME].to_numpy(), kind="stable")
    errors = (alert != joined[c.TX_FRAUD].to_numpy(bool)).astype(float)[by_label]
    label_times = list(joined[c.TX_LABEL_DATETIME].to_numpy()[by_label])
    signals[Signal.ERROR_RATE] = (errors, [pd.Timestamp(t).to_pydatetime() for t in label_times])
    return signals


def _run(
    config: SimulatorConfig, model: LoadedModel, start: datetime, change: datetime | None
) -> dict[str, Any]:
    frame = simulate(config)
    signals = _signals(frame, model)
    monitor = DriftMonitor()
    out: dict[str, Any] = {"signals": {}}
    updates, seconds = 0, 0.0
    for signal, (values, times) in signals.items():
        keep = [i for i, t in enumerate(times) if t >= start]
        started = time.perf_counter()
        alarms = monitor.update(signal, values[keep], [times[i] for i in keep])
        seconds += time.perf_counter() - started
        updates += len(keep)
        row: dict[str, Any] = {"events": len(keep), "alarms": len(alarms)}
        if change is None:
            row["alarms_per_100k"] = len(alarms) / len(keep) * 100_000
        else:
            before = [a for a in alarms if a.at < change]
            after = [a for a in alarms if a.at >= change]
            row["false_alarms_before_change"] = len(before)
            if after:
                row["first_alarm"] = after[0].at.isoformat()
                row["delay_days"] = (after[0].at - change) / timedelta(days=1)
                row["mean_before_after"] = [after[0].before, after[0].after]
        out["signals"][signal.value] = row
    out["detector_us_per_update"] = seconds / updates * 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--change-day", type=int, default=120)
    parser.add_argument("--from-day", type=int, default=40)
    args = parser.parse_args()
    config = load_config(ROOT / "configs" / "config.yaml", use_env=False)
    holder = ChampionHolder(config)
    model = holder.load_initial()
    base = SimulatorConfig()
    day0 = datetime.combine(base.start_date, datetime.min.time())
    start = day0 + timedelta(days=args.from_day)
    change = day0 + timedelta(days=args.change_day)
    results: dict[str, Any] = {"from_day": args.from_day, "change_day": args.change_day}
    results["stationary"] = _run(base, model, start, None)
    print("stationary", json.dumps(results["stationary"]), flush=True)
    for template in CHANGES:
        spec = parse_drift(template.format(day=args.change_day))
        run = _run(base.model_copy(update={"drift": (spec,)}), model, start, change)
        results[spec.kind] = run | {"spec": template.format(day=args.change_day)}
        print(spec.kind, json.dumps(run), flush=True)
    results["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "drift.json").write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
