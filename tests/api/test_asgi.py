from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

_PROBE = (
    "import sys; from churnguard.api.asgi import create_app_from_env; "
    "create_app_from_env(); print(sys.getswitchinterval())"
)


@pytest.mark.parametrize(("setting", "expected"), [(None, 0.001), ("2.5", 0.0025)])
def test_the_served_app_sets_the_gil_switch_interval(setting: str | None, expected: float) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHURNGUARD_")}
    if setting is not None:
        env["CHURNGUARD_SERVING_GIL_SWITCH_INTERVAL_MS"] = setting
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.strip().splitlines()[-1]) == pytest.approx(expected)
