"""Benchmark serving: churnguard's API against ``mlflow models serve`` on the same model.

Trains the configured model (default hyperparameters, no tuning) into a throw-away MLflow
store, registers it and makes it ``models:/churnguard@champion`` (through the quality gate), then:

* in process: the single-record fast path (``ChurnScorer.record_probability``) against the
  scikit-learn pipeline on a one-row frame, 1,000-row batches (fast path, pipeline, booster
  alone), and per-record explanations (``ChurnScorer.record_contributions``);
* over HTTP on loopback, one worker each, one server at a time: cold start (process start →
  ready), ``wrk`` single predictions at concurrency 8 (requests/s, p50, p99), 1,000-row batches
  (rows/s), and the resident memory of each server's process tree.

Prints a table, checks the targets of the serving issue and writes every figure to
``reports/benchmarks/serving.json``. Data: the CSV named by CHURNGUARD_REAL_DATA, else the
synthetic generator. Needs ``wrk`` (``apt-get install -y wrk``).

Usage:
    MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=1 CHURNGUARD_REAL_DATA=/path/to/telco.csv \\
        .venv/bin/python benchmarks/serving.py [--duration 15] [--reference-lightgbm]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import tempfile
from importlib.metadata import version
from pathlib import Path
from types import FrameType
from typing import Any

import _serving_compare as compare
import _serving_http as http
import _serving_inprocess as inproc
import _serving_model as setup
import _serving_report as report
import pandas as pd

from churnguard.data.schema import FEATURE_COLUMNS, ID_COLUMN
from churnguard.io import write_text_atomic
from churnguard.models.bundle import export_bundle
from churnguard.models.predict import ChurnScorer
from churnguard.models.tracking import configure_mlflow, load_model

ROOT = compare.ROOT
DEFAULT_OUTPUT = Path("reports/benchmarks/serving.json")


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, default=ROOT / "configs/config.yaml")
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of unmeasured wrk first")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=8, help="single-prediction concurrency")
    parser.add_argument("--batch-connections", type=int, default=2, help="batch concurrency")
    parser.add_argument("--cold-starts", type=int, default=3, help="starts timed per server")
    parser.add_argument("--records", type=int, default=5000, help="records for in-process timings")
    parser.add_argument("--ready-timeout", type=float, default=180.0)
    parser.add_argument("--synthetic-rows", type=int, default=7043)
    parser.add_argument(
        "--reference-lightgbm",
        action="store_true",
        help="serve the issue's reference model (lightgbm, 500 trees, 8 leaves) instead",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    return parser.parse_args()


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the servers


def _bodies(frame: pd.DataFrame, tmp: Path) -> dict[str, Path]:
    """JSONL body files: single records and 1,000-row batches, in each server's format."""
    columns = list(FEATURE_COLUMNS)
    records = frame.to_dict("records")
    rows = frame[columns].to_numpy(dtype=object).tolist()

    def split(part: list[list[Any]]) -> str:
        return json.dumps({"dataframe_split": {"columns": columns, "data": part}})

    files = {
        "churnguard_single": [json.dumps(r) for r in records],
        "mlflow_single": [split([row]) for row in rows],
        "churnguard_batch": [
            json.dumps({"records": records[i : i + inproc.BATCH_ROWS]})
            for i in range(0, len(records) - inproc.BATCH_ROWS + 1, inproc.BATCH_ROWS)
        ],
        "mlflow_batch": [
            split(rows[i : i + inproc.BATCH_ROWS])
            for i in range(0, len(rows) - inproc.BATCH_ROWS + 1, inproc.BATCH_ROWS)
        ],
    }
    paths = {}
    for name, lines in files.items():
        paths[name] = tmp / f"{name}.jsonl"
        paths[name].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths


def _output(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
    return (done.stdout or done.stderr).strip()


def _machine() -> dict[str, Any]:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
            if ln.startswith("model name")
        ),
        "unknown",
    )
    wrk = _output(http.wrk_executable(), "-v")
    git = shutil.which("git") or "git"
    changed = _output(git, "-C", str(ROOT), "status", "--porcelain", "src")
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "load_average_at_start": list(os.getloadavg()),
        "git_commit": _output(git, "-C", str(ROOT), "rev-parse", "HEAD") or "unknown",
        "src_uncommitted_changes": bool(changed),
        "python": platform.python_version(),
        "wrk": wrk.split(" [")[0],
        **{
            name: version(name)
            for name in ("mlflow", "scikit-learn", "lightgbm", "uvicorn", "fastapi")
        },
    }


def _in_process(
    model: setup.BenchmarkModel, args: argparse.Namespace
) -> tuple[dict[str, Any], pd.DataFrame, list[float]]:
    """In-process figures, every processed row, and the pipeline's answers the servers must give."""
    loaded = load_model(model.model_uri)
    background = loaded.metadata.get("linear_background")
    scorer = ChurnScorer(loaded.model, model.threshold, background)
    frame = pd.concat([f for _, f in model.splits.items()], ignore_index=True)
    frame = frame[[ID_COLUMN, *FEATURE_COLUMNS]]
    print("in-process timings ...", flush=True)
    figures = inproc.measure_in_process(scorer, frame, args.records, 500, 200)
    figures["fast_path_max_gap_vs_pipeline"] = inproc.max_fast_path_gap(scorer, frame)
    check = frame.iloc[: inproc.BATCH_ROWS][list(FEATURE_COLUMNS)]
    pipeline = loaded.model.predict_proba(check)[:, 1].tolist()
    return figures, frame, pipeline + pipeline[: compare.CHECK_SINGLES]


def main() -> None:
    """Run the benchmark, print the table, write the JSON."""
    args = _parse_args()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    machine = _machine()
    with tempfile.TemporaryDirectory(prefix="churnguard-serving-bench-") as name:
        tmp = Path(name)
        config = setup.benchmark_config(
            args.config, tmp, reference_lightgbm=args.reference_lightgbm
        )
        raw, source, sha = setup.load_raw_customers(args.synthetic_rows, config.data.synthetic.seed)
        print(f"training {config.model.estimator} on {source} ...", flush=True)
        model = setup.train_champion(config, raw, source, sha)
        configure_mlflow(config.mlflow)
        export_bundle(model.model_uri, tmp / "bundle")
        in_process, frame, reference = _in_process(model, args)
        servers = compare.server_specs(model, args.config.resolve(), tmp / "bundle", tmp)
        served = compare.compare_servers(servers, reference, _bodies(frame, tmp), args, tmp)
    results = report.assemble(args, machine, model, in_process, served)
    report.print_table(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.output, json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
