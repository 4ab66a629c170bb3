"""Time the Redis online feature store's ``enrich`` and check it against the offline features.

    .venv/bin/python benchmarks/online_store.py                   # reference simulation, 200k events
    .venv/bin/python benchmarks/online_store.py --days 90 --limit 100000
    .venv/bin/python benchmarks/online_store.py --redis-url redis://127.0.0.1:6379/0

The store is first rebuilt from the log's first ``--warmup-days`` (so that every card and terminal
has its full history, as in a stream that has run for a while); the next ``--limit`` events are
then enriched in batches of ``--batch`` (each batch after the labels known by its last event),
like the stream scorer does. Reported: events/s of ``enrich`` (wall clock), the Python CPU time
per event, Redis's time per script call, and the largest |online - offline| of every feature
over the enriched events. Without ``--redis-url`` a private Redis is started and stopped.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import redis

from fraudstream.broker.process import start_redis
from fraudstream.feature_store import FEATURE_NAMES, compute_features
from fraudstream.feature_store.online import OnlineFeatureStore, RedisConfig
from fraudstream.feature_store.online.frames import label_events, transaction_events
from fraudstream.feature_store.online.rebuild import rebuild_from_frame
from fraudstream.simulator import SimulatorConfig, simulate
from fraudstream.transactions import contract as c

PARITY = 1e-9


def _cpu() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


@contextmanager
def redis_url(given: str | None, log_dir: Path) -> Iterator[str]:
    if given:
        yield given
        return
    state = start_redis(log_file=log_dir / "redis.log")
    try:
        yield f"redis://{state.address}/0"
    finally:
        state.stop()


def stream(store: OnlineFeatureStore, frame: pd.DataFrame, start: int, args: argparse.Namespace):
    """Enrich the events from row ``start`` on; return features, statuses and timings."""
    rows = frame.iloc[start : start + args.limit]
    events = transaction_events(rows)
    end = rows[c.TX_DATETIME].max()
    labelled = frame[
        (frame[c.TX_LABEL_DATETIME] > frame[c.TX_DATETIME].iloc[start - 1])
        & (frame[c.TX_LABEL_DATETIME] <= end)
    ]
    labels = sorted(label_events(labelled), key=lambda label: label.tx_label_datetime)
    features, status, applied = [], [], 0
    wall = cpu = 0.0
    for first in range(0, len(events), args.batch):
        batch = events[first : first + args.batch]
        latest = max(event.tx_datetime for event in batch)
        known = []
        while applied < len(labels) and labels[applied].tx_label_datetime <= latest:
            known.append(labels[applied])
            applied += 1
        store.apply_labels(known)
        began, began_cpu = time.perf_counter(), time.process_time()
        enriched = store.enrich(batch)
        wall += time.perf_counter() - began
        cpu += time.process_time() - began_cpu
        features.append(enriched.features)
        status += enriched.status
    return np.vstack(features), status, wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", help="a Redis to use (default: start a private one)")
    parser.add_argument("--days", type=int, default=SimulatorConfig().days)
    parser.add_argument("--warmup-days", type=int, default=60, help="history loaded first")
    parser.add_argument("--limit", type=int, default=200_000, help="events to enrich")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/online_store.json"))
    args = parser.parse_args()

    began = time.perf_counter()
    frame = simulate(SimulatorConfig(days=args.days))
    frame = frame.sort_values([c.TX_DATETIME, c.TRANSACTION_ID]).reset_index(drop=True)
    cutoff = frame[c.TX_DATETIME].iloc[0].normalize() + pd.Timedelta(days=args.warmup_days)
    start = int(np.searchsorted(frame[c.TX_DATETIME].to_numpy(), cutoff.to_datetime64()))
    if start == 0 or start >= len(frame):
        parser.error(f"--warmup-days {args.warmup_days} leaves no history or no events to enrich")
    expected = compute_features(frame)[list(FEATURE_NAMES)].to_numpy()[start : start + args.limit]
    print(
        f"simulated {len(frame):,} rows ({args.days} days) and their offline features in "
        f"{time.perf_counter() - began:.0f} s"
    )

    args.json.parent.mkdir(parents=True, exist_ok=True)
    with redis_url(args.redis_url, args.json.parent) as url:
        store = OnlineFeatureStore.from_config(RedisConfig(url=url))
        store.clear()
        began = time.perf_counter()
        rebuilt = rebuild_from_frame(store, frame.iloc[:start])
        warmup_seconds = time.perf_counter() - began
        print(
            f"rebuilt {rebuilt.transactions:,} transactions and {rebuilt.labels:,} labels "
            f"({args.warmup_days} days) in {warmup_seconds:.0f} s"
        )
        client = redis.Redis.from_url(url)
        client.config_resetstat()
        features, status, wall, cpu = stream(store, frame, start, args)
        script = client.info("commandstats").get("cmdstat_evalsha", {})
        server = client.info("server")["redis_version"]
        stats = store.stats()
        client.close()
        store.clear()
        store.close()

    events = len(status)
    worst = np.abs(features - expected).max(axis=0)
    results = {
        "events": events,
        "batch": args.batch,
        "events_per_second": events / wall,
        "python_cpu_us_per_event": cpu / events * 1e6,
        "redis_us_per_event": script.get("usec_per_call"),
        "statuses": {s: status.count(s) for s in sorted(set(status))},
        "max_abs_diff": float(worst.max()),
        "max_abs_diff_per_feature": dict(zip(FEATURE_NAMES, map(float, worst), strict=True)),
        "parity_ok": bool(worst.max() <= PARITY),
        "entity_keys": stats.entity_keys,
        "redis_used_memory_bytes": stats.used_memory_bytes,
    }
    context = {
        "cpu": _cpu(),
        "python": platform.python_version(),
        "redis": server,
        "simulation_days": args.days,
        "rows": len(frame),
        "warmup_days": args.warmup_days,
        "warmup_rebuild_seconds": warmup_seconds,
    }
    args.json.write_text(json.dumps({"context": context, "results": results}, indent=2) + "\n")

    print(f"\n{'feature':<62}{'max |online - offline|':>24}")
    for name, value in results["max_abs_diff_per_feature"].items():
        print(f"{name:<62}{value:>24.3g}")
    print(
        f"\n{events:,} events in batches of {args.batch}: {results['events_per_second']:,.0f} "
        f"events/s, Python {results['python_cpu_us_per_event']:.1f} µs/event, Redis "
        f"{results['redis_us_per_event']} µs/event; statuses {results['statuses']}; "
        f"parity {'ok' if results['parity_ok'] else 'FAILED'} (max {results['max_abs_diff']:.3g})"
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
