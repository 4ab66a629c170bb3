"""churnguard against ``mlflow models serve``: start both, check their answers, load them.

Helper of ``benchmarks/serving.py``. Both servers serve the same registry alias with one
worker; they are started (and timed) one after the other, checked against the pipeline's own
probabilities, then driven one at a time with the same wrk settings.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _serving_http as http
import httpx
from _serving_inprocess import BATCH_ROWS
from _serving_model import BenchmarkModel

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-9
CHECK_SINGLES = 20
#: Server name → (single-prediction path, batch path).
ROUTES = {"churnguard": ("/predict", "/predict/batch"), "mlflow": ("/invocations", "/invocations")}


def kind(name: str) -> str:
    """``churnguard`` or ``mlflow``: which routes and request bodies a server takes."""
    return "mlflow" if name == "mlflow" else "churnguard"


@dataclass(frozen=True)
class Servers:
    """What to start: churnguard on the alias (prediction log on, and off) and on a bundle, and
    mlflow on the alias."""

    churnguard: http.ServerSpec
    churnguard_bundle: http.ServerSpec
    mlflow: http.ServerSpec
    churnguard_nolog: http.ServerSpec


def server_specs(model: BenchmarkModel, config_path: Path, bundle: Path, tmp: Path) -> Servers:
    """The server commands with their environments and free ports."""
    bin_dir = Path(sys.executable).parent
    tracking = model.config.mlflow.tracking_uri
    base = dict(os.environ) | {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
    churnguard_env = base | {
        "CHURNGUARD_MLFLOW_TRACKING_URI": tracking,
        "CHURNGUARD_MLFLOW_ARTIFACT_LOCATION": model.config.mlflow.artifact_location,
        "CHURNGUARD_SERVING_STORE_URL": f"sqlite:///{tmp / 'serving.db'}",
        "CHURNGUARD_MONITORING_SPOOL_DIR": str(tmp / "spool"),
        # The prediction log is on by default (every prediction recorded, as in production).
        "CHURNGUARD_MONITORING_LOG_PREDICTIONS": "true",
    }
    mlflow_env = base | {
        "MLFLOW_TRACKING_URI": tracking,
        "MLFLOW_REGISTRY_URI": tracking,
        # MLflow gates every sklearn deserialization (skops included) behind this flag; it is
        # on by default in MLflow 3.17 and set here so a changed default cannot break the run.
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        # `mlflow models serve` runs `exec uvicorn ...` through bash: uvicorn must be on PATH.
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }

    def churnguard(name: str, uri: str, log: bool = True) -> http.ServerSpec:
        port = http.free_port()
        argv = (str(bin_dir / "churnguard"), "--config", str(config_path), "serve")
        argv += ("--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--model-uri", uri)
        env = churnguard_env | {"CHURNGUARD_MONITORING_LOG_PREDICTIONS": str(log).lower()}
        return http.ServerSpec(name, argv, env, port, "/ready", ROOT)

    port = http.free_port()
    mlflow_argv = (str(bin_dir / "mlflow"), "models", "serve", "-m", model.model_uri)
    mlflow_argv += ("--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1")
    return Servers(
        churnguard=churnguard("churnguard", model.model_uri),
        churnguard_bundle=churnguard("churnguard_bundle", str(bundle)),
        mlflow=http.ServerSpec("mlflow", mlflow_argv, mlflow_env, port, "/ping", ROOT),
        # Like mlflow serve, which records nothing: what the prediction log costs.
        churnguard_nolog=churnguard("churnguard_nolog", model.model_uri, log=False),
    )


def time_starts(
    spec: http.ServerSpec, starts: int, tmp: Path, timeout: float, running: list[http.Server]
) -> dict[str, Any]:
    """Time ``starts`` starts (process start → ready); the last server stays up in ``running``."""
    ready, idle = [], []
    for attempt in range(starts):
        server = http.start_server(spec, tmp / f"{spec.name}.log", timeout)
        running.append(server)
        ready.append(round(server.ready_seconds, 3))
        idle.append(http.tree_memory_mb(server.process.pid))
        if attempt < starts - 1:
            http.stop_server(running.pop())
    ordered = sorted(ready)
    return {"ready_s": ordered[len(ordered) // 2], "ready_s_all": ready, "idle_memory": idle[-1]}


def _first_lines(path: Path, n: int) -> list[bytes]:
    with path.open("rb") as lines:
        return [next(lines).rstrip(b"\n") for _ in range(n)]


def _served_probabilities(name: str, url: str, bodies: dict[str, Path]) -> list[float]:
    """The first batch and the first single records, as scored by server ``name``."""
    single_path, batch_path = ROUTES[kind(name)]
    (batch,) = _first_lines(bodies[f"{kind(name)}_batch"], 1)
    singles = _first_lines(bodies[f"{kind(name)}_single"], CHECK_SINGLES)
    if kind(name) == "churnguard":
        answers = [http.post_json(url + batch_path, batch)["predictions"]]
        answers += [[http.post_json(url + single_path, s)] for s in singles]
        return [p["churn_probability"] for answer in answers for p in answer]
    answers = [http.post_json(url + batch_path, batch)["predictions"]]
    answers += [http.post_json(url + single_path, s)["predictions"] for s in singles]
    # predict_proba gives [p(stay), p(churn)] per row.
    return [p[-1] if isinstance(p, list) else p for answer in answers for p in answer]


def check_answers(
    servers: list[http.Server], reference: list[float], bodies: dict[str, Path]
) -> dict[str, float]:
    """Each server's probabilities equal the pipeline's within TOLERANCE (and each other's).

    Raises:
        BenchmarkError: a server answered wrongly; nothing is measured then.
    """
    gaps, served = {}, {}
    for server in servers:
        name = server.spec.name
        values = _served_probabilities(name, server.spec.url, bodies)
        if len(values) != len(reference) or not all(0.0 <= v <= 1.0 for v in values):
            msg = f"{name} answered {len(values)} probabilities, want {len(reference)} in [0, 1]"
            raise http.BenchmarkError(msg)
        served[name] = values
        gaps[f"{name}_vs_pipeline"] = max(
            abs(a - b) for a, b in zip(values, reference, strict=True)
        )
    if {"churnguard", "mlflow"} <= served.keys():
        gaps["churnguard_vs_mlflow"] = max(
            abs(a - b) for a, b in zip(served["churnguard"], served["mlflow"], strict=True)
        )
    if max(gaps.values()) > TOLERANCE:
        raise http.BenchmarkError(f"servers disagree with the model beyond {TOLERANCE}: {gaps}")
    return gaps


def load_server(
    server: http.Server, bodies: dict[str, Path], args: argparse.Namespace
) -> dict[str, Any]:
    """wrk on single predictions, then on 1,000-row batches (each after a short warm-up)."""
    name, url, pid = server.spec.name, server.spec.url, server.process.pid
    single_path, batch_path = ROUTES[kind(name)]
    singles, batches = bodies[f"{kind(name)}_single"], bodies[f"{kind(name)}_batch"]
    http.run_wrk(
        url, single_path, singles, http.LoadSpec(args.threads, args.connections, args.warmup)
    )
    single = http.LoadSpec(args.threads, args.connections, args.duration)
    figures: dict[str, Any] = {"single": http.run_wrk(url, single_path, singles, single, pid)}
    http.run_wrk(url, batch_path, batches, http.LoadSpec(1, 1, args.warmup))
    batch = http.LoadSpec(args.threads, args.batch_connections, args.duration)
    figures["batch"] = http.run_wrk(url, batch_path, batches, batch, pid)
    done = figures["batch"]
    done["rows_per_s"] = round(done["requests"] * BATCH_ROWS / (done["duration_us"] / 1e6))
    figures["memory_after_load"] = http.tree_memory_mb(pid)
    if name == "churnguard":
        figures["prediction_log"] = prediction_log_drain(url)
    return figures


def _log_metrics(url: str) -> tuple[float, float, float]:
    """(queue depth, written total, spooled) of churnguard's prediction log, from /metrics."""
    values = {}
    for line in httpx.get(url + "/metrics", timeout=30).text.splitlines():
        name, _, value = line.partition(" ")
        if name.startswith("churnguard_prediction_log_"):
            values[name] = float(value)
    return (
        values.get("churnguard_prediction_log_queue_depth", 0.0),
        values.get("churnguard_prediction_log_written_total", 0.0),
        values.get("churnguard_prediction_log_spooled_records", 0.0),
    )


def prediction_log_drain(url: str, timeout: float = 120.0) -> dict[str, Any]:
    """What the prediction log still held when the load stopped, and how long it took to write.

    The writer runs beside the requests; what it has not written yet waits in memory (or, past
    the queue's bound, in the spool) and is written once the load stops.
    """
    depth, written, spooled = _log_metrics(url)
    started, previous = time.monotonic(), -1.0
    while time.monotonic() - started < timeout:
        now_depth, now_written, now_spooled = _log_metrics(url)
        if now_depth == 0 and now_spooled == 0 and now_written == previous:
            break
        previous = now_written
        time.sleep(0.5)
    return {
        "queued_rows_at_end": int(depth),
        "spooled_rows_at_end": int(spooled),
        "written_rows_at_end": int(written),
        "written_rows_after_drain": int(previous),
        "drain_s": round(time.monotonic() - started, 1),
    }


def compare_servers(
    servers: Servers,
    reference: list[float],
    bodies: dict[str, Path],
    args: argparse.Namespace,
    tmp: Path,
) -> dict[str, Any]:
    """Start, check and load both servers; every process is stopped, whatever happens."""
    results: dict[str, Any] = {}
    running: list[http.Server] = []
    try:
        print(f"timing {args.cold_starts} starts of churnguard on a bundle ...", flush=True)
        results["churnguard_bundle"] = time_starts(
            servers.churnguard_bundle, args.cold_starts, tmp, args.ready_timeout, running
        )
        http.stop_server(running.pop())
        for spec in (servers.churnguard, servers.mlflow):
            print(f"timing {args.cold_starts} starts of {spec.name} ...", flush=True)
            results[spec.name] = time_starts(
                spec, args.cold_starts, tmp, args.ready_timeout, running
            )
        results["answer_gaps"] = check_answers(running, reference, bodies)
        for server in running:
            print(f"loading {server.spec.name} with wrk ...", flush=True)
            results[server.spec.name] |= load_server(server, bodies, args)
        while running:
            http.stop_server(running.pop())
        spec = servers.churnguard_nolog
        print(f"loading {spec.name} (prediction log off) with wrk ...", flush=True)
        results[spec.name] = time_starts(spec, 1, tmp, args.ready_timeout, running)
        results["answer_gaps"] |= check_answers(running, reference, bodies)
        results[spec.name] |= load_server(running[0], bodies, args)
    finally:
        for server in running:
            http.stop_server(server)
    return results
