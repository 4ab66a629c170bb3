"""Start the prediction service in the background, show a few explained predictions, stop it.

Used by ``make demo`` after the pipeline has promoted a champion:

    python scripts/demo_serving.py [--records N]

The service runs on a free loopback port with the configured model (the registry's champion);
customers are taken from the processed test split. The service is stopped before the script
exits, whatever happens.
"""

from __future__ import annotations

import argparse
import os
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
from churnguard.data.schema import FEATURE_COLUMNS, ID_COLUMN


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _customers(n: int) -> list[dict[str, object]]:
    config = load_config()
    frame = pd.read_parquet(config.paths.processed_dir / "test.parquet")
    picked = frame.sample(n=min(n, len(frame)), random_state=3)[[ID_COLUMN, *FEATURE_COLUMNS]]
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in picked.to_dict("records")
    ]


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
    args = parser.parse_args()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tempfile.NamedTemporaryFile(prefix="churnguard-serve-", suffix=".log", delete=False)  # noqa: SIM115
    command = [str(Path(sys.executable).with_name("churnguard")), "serve", "--port", str(port)]
    print(f"starting the service: {' '.join(command)} (log: {log.name})")
    process = subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
        command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
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
        print("service stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
