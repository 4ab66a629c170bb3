"""Time the transaction simulator and compare its statistics with the handbook's reference run.

    .venv/bin/python benchmarks/simulate.py              # reference size, best of 3
    .venv/bin/python benchmarks/simulate.py --days 60 --repeat 5

The reference figures (5,000 customers, 10,000 terminals, 183 days from 2018-04-01, r = 5) are
the published ones; random draws differ between implementations, so close is the goal, not equal.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import pandas as pd

from fraudstream.simulator import SimulatorConfig, simulate
from fraudstream.transactions.summary import TransactionSummary, summarize

REFERENCE = {
    "rows": 1_754_155,
    "frauds": 14_681,
    "fraud rate": 14_681 / 1_754_155,
    "scenario 1": 973,
    "scenario 2": 9_077,
    "scenario 3": 4_631,
    "active customers": 4_990,
}


def _cpu() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _measured(summary: TransactionSummary) -> dict[str, float]:
    return {
        "rows": summary.rows,
        "frauds": summary.frauds,
        "fraud rate": summary.fraud_rate,
        "scenario 1": summary.scenario_counts[1],
        "scenario 2": summary.scenario_counts[2],
        "scenario 3": summary.scenario_counts[3],
        "active customers": summary.active_customers,
    }


def _cell(name: str, value: float) -> str:
    return f"{value:.2%}" if name == "fraud rate" else f"{value:,.0f}"


def _table(summary: TransactionSummary, is_reference_size: bool) -> str:
    lines = [f"{'':<18}{'simulated':>12}{'reference':>12}{'diff':>9}"]
    for name, value in _measured(summary).items():
        reference = REFERENCE[name]
        shown = _cell(name, reference) if is_reference_size else "-"
        diff = f"{value / reference - 1:+.1%}" if is_reference_size else ""
        lines.append(f"{name:<18}{_cell(name, value):>12}{shown:>12}{diff:>9}")
    shares = ", ".join(f"{summary.scenario_shares[code]:.1%}" for code in (1, 2, 3))
    published = "   (reference 6.6% / 61.8% / 31.5%)" if is_reference_size else ""
    lines.append(f"{'fraud mix 1/2/3':<18}{shares:>24}{published}")
    return "\n".join(lines)


def main() -> None:
    defaults = SimulatorConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=defaults.customers)
    parser.add_argument("--terminals", type=int, default=defaults.terminals)
    parser.add_argument("--days", type=int, default=defaults.days)
    parser.add_argument("--radius", type=float, default=defaults.radius)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best time is shown")
    args = parser.parse_args()
    config = SimulatorConfig(
        customers=args.customers,
        terminals=args.terminals,
        days=args.days,
        radius=args.radius,
        seed=args.seed,
    )
    times: list[float] = []
    frames: list[pd.DataFrame] = []
    for _ in range(max(args.repeat, 1)):
        started = time.perf_counter()
        frames.append(simulate(config))
        times.append(time.perf_counter() - started)
        if len(frames) > 1:  # keep memory flat; check determinism on the way
            assert frames[0].equals(frames.pop()), "two runs of one config differ"
    summary = summarize(frames[0])
    size = f"{config.customers:,} customers x {config.terminals:,} terminals x {config.days} days"
    print(f"simulate: {size}, r={config.radius}, seed {config.seed}")
    print(f"cpu: {_cpu()}")
    print(
        f"wall time: best {min(times):.2f} s of {len(times)} "
        f"({', '.join(f'{t:.2f}' for t in times)})"
    )
    print(
        _table(
            summary, config.model_dump(exclude={"seed"}) == defaults.model_dump(exclude={"seed"})
        )
    )


if __name__ == "__main__":
    main()
