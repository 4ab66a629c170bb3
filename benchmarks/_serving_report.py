"""The serving benchmark's results: one JSON-ready dict, the targets, and the printed table.

Helper of ``benchmarks/serving.py``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from dataclasses import dataclass
from typing import Any

from _serving_model import REAL_DATA_ENV, BenchmarkModel


@dataclass(frozen=True)
class Target:
    """One target of the serving issue."""

    name: str
    value: float
    limit: float
    unit: str
    at_least: bool

    def passed(self) -> bool:
        """Whether the measured value meets the target."""
        return self.value >= self.limit if self.at_least else self.value <= self.limit

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        op = ">=" if self.at_least else "<="
        return {
            "name": self.name,
            "value": self.value,
            "target": f"{op} {self.limit:g} {self.unit}".strip(),
            "passed": self.passed(),
        }


def _http_targets(ours: dict[str, Any], theirs: dict[str, Any], label: str) -> list[Target]:
    single_ratio = ours["single"]["requests_per_s"] / theirs["single"]["requests_per_s"]
    batch_ratio = ours["batch"]["rows_per_s"] / theirs["batch"]["rows_per_s"]
    return [
        Target(
            f"HTTP single predictions, churnguard/mlflow req/s ({label})",
            round(single_ratio, 1),
            10,
            "x",
            at_least=True,
        ),
        Target(
            f"HTTP single p99, churnguard ({label})",
            ours["single"]["p99_ms"],
            20,
            "ms",
            at_least=False,
        ),
        Target(
            f"HTTP batch rows/s, churnguard/mlflow ({label})",
            round(batch_ratio, 1),
            2,
            "x",
            at_least=True,
        ),
    ]


def _targets(in_process: dict[str, Any], served: dict[str, Any]) -> list[Target]:
    ours, theirs = served["churnguard"], served["mlflow"]
    return [
        Target(
            "in-process fast path, median per record",
            in_process["fast_path_record_probability"]["median_us"],
            200,
            "µs",
            at_least=False,
        ),
        Target(
            "in-process batch rows/s (churn_probability, 1,000 rows)",
            in_process["batch_churn_probability"]["rows_per_s"],
            150_000,
            "rows/s",
            at_least=True,
        ),
        Target(
            "in-process explanation, median per record",
            round(in_process["fast_path_record_contributions"]["median_us"] / 1000, 3),
            2,
            "ms",
            at_least=False,
        ),
        *_http_targets(ours, theirs, "prediction log on, the default"),
        *_http_targets(served["churnguard_nolog"], theirs, "prediction log off, as mlflow"),
        Target(
            "churnguard ready after start, registry alias (median)",
            ours["ready_s"],
            5,
            "s",
            at_least=False,
        ),
        Target(
            "churnguard ready after start, exported bundle (median)",
            served["churnguard_bundle"]["ready_s"],
            5,
            "s",
            at_least=False,
        ),
    ]


def _command() -> str:
    env = "MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=1"
    if os.environ.get(REAL_DATA_ENV):
        env += f" {REAL_DATA_ENV}=/path/to/Telco-Customer-Churn.csv"
    return f"{env} .venv/bin/python benchmarks/serving.py {shlex.join(sys.argv[1:])}".strip()


def assemble(
    args: argparse.Namespace,
    machine: dict[str, Any],
    model: BenchmarkModel,
    in_process: dict[str, Any],
    served: dict[str, Any],
) -> dict[str, Any]:
    """Every figure of the run, with the targets and how to reproduce it."""
    return {
        "command": _command(),
        "machine": machine | {"load_average_at_end": list(os.getloadavg())},
        "model": {
            "model_uri": model.model_uri,
            "version": model.version,
            "estimator": model.estimator,
            "params": model.params,
            "calibration": model.calibration,
            "threshold": model.threshold,
            "test_roc_auc": model.test_roc_auc,
            "champion": model.promotion,
            "data": model.data_source,
        },
        "load": {
            "wrk_threads": args.threads,
            "single_connections": args.connections,
            "batch_connections": args.batch_connections,
            "batch_rows": 1000,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "cold_starts": args.cold_starts,
        },
        "in_process": in_process,
        "http": {
            name: served[name]
            for name in ("churnguard", "churnguard_nolog", "mlflow", "churnguard_bundle")
        },
        "answer_gaps": served["answer_gaps"],
        "targets": [t.as_dict() for t in _targets(in_process, served)],
    }


def _row(label: str, *cells: str) -> str:
    return f"{label:<46}" + "".join(f"{c:>15}" for c in cells)


def _in_process_rows(figures: dict[str, Any]) -> list[str]:
    lines = [_row("in process", "median", "p99")]
    for key, label in (
        ("fast_path_record_probability", "record_probability (fast path), µs"),
        ("pipeline_predict_proba_one_row", "pipeline predict_proba, 1-row frame, µs"),
        ("fast_path_record_contributions", "record_contributions (explanation), µs"),
    ):
        lines.append(
            _row(label, f"{figures[key]['median_us']:,.1f}", f"{figures[key]['p99_us']:,.1f}")
        )
    lines.append(_row("1,000-row batches", "rows/s", "ms/batch", "CPU ms/batch"))
    for key, label in (
        ("batch_churn_probability", "churn_probability (fast path)"),
        ("batch_columns_probability", "columns_probability (lists, as the API)"),
        ("batch_encode_frame", "  of which encode_frame"),
        ("batch_booster_predict", "  booster.predict alone"),
        ("batch_pipeline_predict_proba", "pipeline predict_proba"),
    ):
        if key in figures:
            f = figures[key]
            lines.append(
                _row(
                    label,
                    f"{f['rows_per_s']:,}",
                    f"{f['median_ms_per_batch']:.2f}",
                    f"{f['cpu_ms_per_batch']:.2f}",
                )
            )
    return lines


def _http_rows(results: dict[str, Any]) -> list[str]:
    ours, bare = results["http"]["churnguard"], results["http"]["churnguard_nolog"]
    theirs = results["http"]["mlflow"]
    load = results["load"]

    def cells(get: Any, fmt: str, ratio: bool = True) -> tuple[str, ...]:
        a, n, b = get(ours), get(bare), get(theirs)
        ratios = (f"{a / b:.1f}x", f"{n / b:.1f}x") if ratio and b else ("", "")
        return (format(a, fmt), format(n, fmt), format(b, fmt), *ratios)

    def some(get: Any, fmt: str) -> tuple[str, ...]:
        return (
            format(get(ours), fmt),
            "",
            format(get(theirs), fmt),
            f"{get(ours) / get(theirs):.1f}x",
            "",
        )

    starts = load["cold_starts"]
    return [
        _row("HTTP, loopback, 1 worker each", "churnguard", "cg, no log", "mlflow serve", "cg / mlflow", "no log / mlflow"),
        _row(f"single: req/s (c={load['single_connections']})", *cells(lambda s: s["single"]["requests_per_s"], ",.0f")),
        _row("single: p50 ms", *cells(lambda s: s["single"]["p50_ms"], ".2f")),
        _row("single: p99 ms", *cells(lambda s: s["single"]["p99_ms"], ".2f")),
        _row("single: server CPU ms per request", *cells(lambda s: s["single"]["server_cpu_ms_per_request"], ".2f")),
        _row(f"batch 1,000 rows: rows/s (c={load['batch_connections']})", *cells(lambda s: s["batch"]["rows_per_s"], ",.0f")),
        _row("batch 1,000 rows: p50 ms", *cells(lambda s: s["batch"]["p50_ms"], ".1f")),
        _row("batch 1,000 rows: p99 ms", *cells(lambda s: s["batch"]["p99_ms"], ".1f")),
        _row("batch: server CPU ms per request", *cells(lambda s: s["batch"]["server_cpu_ms_per_request"], ".1f")),
        _row(f"start → ready s (median of {starts})", *some(lambda s: s["ready_s"], ".2f")),
        _row("  churnguard on an exported bundle", format(results["http"]["churnguard_bundle"]["ready_s"], ".2f")),
        _row("RSS after load, MB (process tree)", *cells(lambda s: s["memory_after_load"]["rss_mb"], ",.0f")),
        _row("prediction log after the batches: queued rows", f"{ours['prediction_log']['queued_rows_at_end']:,}"),
        _row("  spooled rows / written so far", f"{ours['prediction_log']['spooled_rows_at_end']:,}", f"{ours['prediction_log']['written_rows_at_end']:,}"),
        _row("  seconds to write the rest", f"{ours['prediction_log']['drain_s']:.1f}"),
        _row("RSS when ready, MB (process tree)", *cells(lambda s: s["idle_memory"]["rss_mb"], ",.0f")),
    ]  # fmt: skip


def print_table(results: dict[str, Any]) -> None:
    """Print the figures and the targets."""
    model, machine = results["model"], results["machine"]
    print(
        f"\nmodel: {model['estimator']} (calibration {model['calibration']}, test ROC-AUC "
        f"{model['test_roc_auc']:.4f}), {model['data']}; {machine['cores']} cores, "
        f"load average at start {machine['load_average_at_start'][0]:.2f}\n"
    )
    print("\n".join(_in_process_rows(results["in_process"])))
    print()
    print("\n".join(_http_rows(results)))
    print("\ntargets")
    for target in results["targets"]:
        mark = "PASS" if target["passed"] else "MISS"
        print(f"  [{mark}] {target['name']}: {target['value']:,} (target {target['target']})")
