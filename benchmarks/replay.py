"""Measure the replay producer at --speed max, and check the broker holds every record once.

    .venv/bin/python benchmarks/replay.py                  # 30 days of the reference population
    .venv/bin/python benchmarks/replay.py --days 60 --bootstrap 127.0.0.1:9092

Starts its own Tansu broker (memory storage) on a free port unless --bootstrap is given, creates
fresh topics, simulates transactions, replays them, then reads both topics back from the
beginning until idle and counts (Tansu's end offsets are not reliable): every transaction and
label once, every watermark. Writes benchmarks/results/replay.json and prints a table. The
target is >= 15,000 events/s (transactions + labels).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from fraudstream.broker.config import KafkaConfig, TopicsConfig
from fraudstream.broker.kafka_python import prepare_kafka_python
from fraudstream.broker.process import start_tansu
from fraudstream.broker.topics import TopicRecord, read_topic
from fraudstream.io import write_text_atomic
from fraudstream.producer.config import ReplayConfig
from fraudstream.producer.replay import ReplayOptions, ReplaySource, ReplaySummary, replay
from fraudstream.simulator import SimulatorConfig, simulate
from fraudstream.transactions.contract import TX_FRAUD

TARGET_EVENTS_PER_SECOND = 15_000
RESULTS = Path("benchmarks/results/replay.json")


def _cpu() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _topics() -> TopicsConfig:
    return TopicsConfig().tagged(f"bench-{uuid.uuid4().hex[:8]}")


def _verify(kafka: KafkaConfig, expected_tx: int, expected_labels: int) -> dict[str, int]:
    transactions = read_topic(kafka, kafka.topics.transactions, idle_seconds=3.0)
    labels = read_topic(kafka, kafka.topics.labels, idle_seconds=3.0)
    label_records = [r for r in labels if r.key is not None]
    duplicates = _duplicates(transactions) + _duplicates(label_records)
    counts = {
        "transactions read": len(transactions),
        "labels read": len(label_records),
        "watermarks read": len(labels) - len(label_records),
        "duplicates": duplicates,
    }
    assert len(transactions) == expected_tx, counts
    assert len(label_records) == expected_labels, counts
    assert duplicates == 0, counts
    return counts


def _duplicates(records: list[TopicRecord]) -> int:
    ids = Counter(json.loads(r.value)["TRANSACTION_ID"] for r in records)
    return sum(n - 1 for n in ids.values() if n > 1)


def _table(summary: ReplaySummary, counts: dict[str, int], rows: int) -> str:
    lines = [
        f"{'transactions sent':<22}{summary.transactions:>12,}",
        f"{'labels sent':<22}{summary.labels:>12,}",
        f"{'watermarks sent':<22}{summary.watermarks:>12,}",
        *(f"{name:<22}{value:>12,}" for name, value in counts.items()),
        f"{'seconds':<22}{summary.seconds:>12.2f}",
        f"{'events/s':<22}{summary.events_per_second:>12,.0f}"
        f"   (target >= {TARGET_EVENTS_PER_SECOND:,})",
        f"{'file rows':<22}{rows:>12,}",
    ]
    return "\n".join(lines)


def main() -> None:
    defaults = SimulatorConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=defaults.customers)
    parser.add_argument("--terminals", type=int, default=defaults.terminals)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the results")
    args = parser.parse_args()
    frame = simulate(
        SimulatorConfig(
            customers=args.customers, terminals=args.terminals, days=args.days, seed=args.seed
        )
    )
    crc = prepare_kafka_python()
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="replay-bench-")))
        bootstrap = args.bootstrap
        if bootstrap is None:
            broker = start_tansu(log_file=work / "tansu.log")
            stack.callback(broker.stop)
            bootstrap = broker.address
        kafka = KafkaConfig(
            bootstrap_servers=bootstrap, partitions=args.partitions, topics=_topics()
        )
        source = ReplaySource(frame=frame, path=work / "simulated", sha256=uuid.uuid4().hex)
        config = ReplayConfig(checkpoint_dir=work / "checkpoints")
        summary = replay(source, kafka, config, ReplayOptions())
        labels = len(frame) if TX_FRAUD in frame.columns else 0
        verify_started = time.perf_counter()
        counts = _verify(kafka, len(frame), labels)
        verify_seconds = time.perf_counter() - verify_started
    result = {
        "context": {
            "cpu": _cpu(),
            "python": platform.python_version(),
            "broker": "own Tansu (memory storage)" if args.bootstrap is None else args.bootstrap,
            "simulation": {
                "customers": args.customers,
                "terminals": args.terminals,
                "days": args.days,
                "seed": args.seed,
            },
            "partitions": args.partitions,
            "crc32c": crc,
        },
        "transactions": summary.transactions,
        "labels": summary.labels,
        "watermarks": summary.watermarks,
        "seconds": round(summary.seconds, 3),
        "events_per_second": round(summary.events_per_second),
        "target_events_per_second": TARGET_EVENTS_PER_SECOND,
        "read_back": counts,
        "read_back_seconds": round(verify_seconds, 2),
    }
    write_text_atomic(args.json, json.dumps(result, indent=2) + "\n")
    print(f"replay at --speed max: {args.days} days, cpu {_cpu()}, crc32c {crc}")
    print(_table(summary, counts, len(frame)))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
