"""Start the prediction service in the background, show explained predictions, simulate traffic.

Used by ``make demo`` after the pipeline has promoted a champion:

    python scripts/demo_serving.py [--records N] [--traffic N] [--drifted N]

The service runs on a free loopback port with the configured model (the registry's champion)
and logs every prediction to a fresh sqlite store in ``reports/monitoring/``. The script shows
a few explained predictions of the processed test split, then simulates a day of traffic:
``--traffic`` customers of the held-out splits (with their true labels sent to ``/feedback``,
as a CRM would once the month is over), then ``--drifted`` synthetic customers with injected
drift (pricier plans, more month-to-month contracts, shorter tenure). The service is stopped
before the script exits, whatever happens; then ``churnguard monitor report`` writes the
monitoring report of that traffic.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pandas as pd

from churnguard.config import load_config
from churnguard.data.drift import DriftSpec
from churnguard.data.preprocess import coerce_types
from churnguard.data.schema import FEATURE_COLUMNS, ID_COLUMN, TARGET_COLUMN
from churnguard.data.synthetic import generate_customers

REPORT = Path("reports/monitoring/report.html")
STORE = Path("reports/monitoring/demo_store.db")
DEMO_DRIFT = DriftSpec(
    numeric_shift={"MonthlyCharges": 1.3, "tenure": 0.6},
    category_mix={"Contract": {"Month-to-month": 0.85, "One year": 0.1, "Two year": 0.05}},
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in frame[[ID_COLUMN, *FEATURE_COLUMNS]].to_dict("records")
    ]


def _customers(n: int) -> list[dict[str, object]]:
    config = load_config()
    frame = pd.read_parquet(config.paths.processed_dir / "test.parquet")
    return _records(frame.sample(n=min(n, len(frame)), random_state=3))


def _held_out(n: int) -> pd.DataFrame:
    """Customers the model never trained on, with their true labels (validation + test)."""
    folder = load_config().paths.processed_dir
    frame = pd.concat(
        pd.read_parquet(folder / f"{name}.parquet") for name in ("validation", "test")
    )
    return frame.sample(n=min(n, len(frame)), random_state=5)


def _score(base: str, records: list[dict[str, object]], batch: int = 250) -> list[str]:
    """Send ``records`` as batch requests; returns the request id of each record."""
    ids: list[str] = []
    for start in range(0, len(records), batch):
        chunk = records[start : start + batch]
        response = httpx.post(f"{base}/predict/batch", json={"records": chunk}, timeout=30)
        response.raise_for_status()
        ids += [response.json()["request_id"]] * len(chunk)
    return ids


def _simulate(base: str, key: str, traffic: int, drifted: int) -> None:
    normal = _held_out(traffic)
    ids = _score(base, _records(normal))
    labels = [
        {"request_id": rid, "customerID": str(cid), "churn": bool(churn)}
        for rid, cid, churn in zip(ids, normal[ID_COLUMN], normal[TARGET_COLUMN], strict=True)
    ]
    for start in range(0, len(labels), 500):
        response = httpx.post(
            f"{base}/feedback",
            json={"labels": labels[start : start + 500]},
            headers={"X-API-Key": key},
            timeout=30,
        )
        response.raise_for_status()
    shifted = coerce_types(generate_customers(drifted, seed=29, drift=DEMO_DRIFT))
    _score(base, _records(shifted))
    print(
        f"simulated traffic: {len(normal)} held-out customers (labels sent to /feedback), "
        f"then {len(shifted)} customers with injected drift"
    )


def _wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 60) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited with code {process.returncode}")
        try:
            if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the service was not ready within {timeout:.0f} s")


def _show(prediction: dict[str, object]) -> None:
    reasons = prediction.get("reasons") or []
    why = "; ".join(
        f"{r['field']}={r['value']} ({r['contribution']:+.2f})"  # type: ignore[index]
        for r in reasons  # type: ignore[union-attr]
    )
    print(
        f"  {prediction['customerID']}: churn probability {prediction['churn_probability']:.3f} "
        f"-> {'CHURN' if prediction['churn'] else 'stay'} ({prediction['risk_band']} risk); "
        f"top reasons: {why}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=3)
    parser.add_argument("--traffic", type=int, default=1200, help="held-out customers to score")
    parser.add_argument("--drifted", type=int, default=800, help="drifted customers to score")
    args = parser.parse_args()
    STORE.parent.mkdir(parents=True, exist_ok=True)
    STORE.unlink(missing_ok=True)  # each demo monitors its own traffic
    key = secrets.token_urlsafe(24)
    environment = os.environ | {
        "CHURNGUARD_SERVING_STORE_URL": f"sqlite:///{STORE.resolve()}",
        "CHURNGUARD_SERVING_API_KEY": key,
        "CHURNGUARD_MONITORING_SPOOL_DIR": str(STORE.parent / "spool"),
        # A short shadow run: the challenger scores every request in the background.
        "CHURNGUARD_SERVING_EXPERIMENT_MODE": "shadow",
    }
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tempfile.NamedTemporaryFile(prefix="churnguard-serve-", suffix=".log", delete=False)  # noqa: SIM115
    command = [str(Path(sys.executable).with_name("churnguard")), "serve", "--port", str(port)]
    print(f"starting the service: {' '.join(command)} (log: {log.name})")
    process = subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
        command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=environment
    )
    try:
        seconds = _wait_ready(base, process)
        model = httpx.get(f"{base}/model", timeout=5).json()
        print(
            f"ready in {seconds:.1f} s, serving {model['name']} version {model['version']} "
            f"({model['alias']}), threshold {model['threshold']:.2f}"
        )
        for customer in _customers(args.records):
            response = httpx.post(f"{base}/predict?explain=true", json=customer, timeout=5)
            response.raise_for_status()
            _show(response.json())
        print(f"API docs while it runs: {base}/docs; metrics: {base}/metrics")
        if args.traffic or args.drifted:
            _simulate(base, key, args.traffic, args.drifted)
    except (RuntimeError, httpx.HTTPError) as exc:
        print(f"demo service failed: {exc}; see {log.name}", file=sys.stderr)
        return 1
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        print("service stopped (its prediction log flushed to the store)")
    if not (args.traffic or args.drifted):
        return 0
    report = subprocess.run(  # noqa: S603 - our own entry point, fixed arguments
        [
            command[0],
            "monitor",
            "report",
            "--store-url",
            environment["CHURNGUARD_SERVING_STORE_URL"],
            "--output",
            str(REPORT),
        ],
        check=False,
    )
    if report.returncode != 0:
        print("the monitoring report failed (see above)", file=sys.stderr)
        return 1
    print(f"monitoring report: open {REPORT.resolve()} in a browser")
    print("shadow experiment (champion answered, challenger scored the same requests):")
    subprocess.run(  # noqa: S603 - our own entry point, fixed arguments
        [
            command[0],
            "experiment",
            "report",
            "--store-url",
            environment["CHURNGUARD_SERVING_STORE_URL"],
        ],
        check=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
