"""`churnguard experiment report` on a prediction store holding a shadow or an A/B experiment."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from churnguard.cli import main
from churnguard.data.schema import FEATURE_COLUMNS
from churnguard.monitoring.store import Label, MonitoringStore

pytestmark = pytest.mark.unit

FEATURES = dict.fromkeys(FEATURE_COLUMNS, 0)


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as caught:
        main(list(args))
    out, err = capsys.readouterr()
    return int(caught.value.code or 0), out, err


def _store(path: Path, *, shadow: bool, challenger_signal: float, n: int = 1500) -> str:
    """Customers with a true churn propensity; the champion sees it noisily, the challenger
    with ``challenger_signal`` (higher = better ranking). Shadow: both score every request."""
    rng = np.random.default_rng(3)
    url = f"sqlite:///{path}"
    store = MonitoringStore(url)
    store.create()
    truth = rng.normal(size=n)
    actual = rng.random(n) < 1 / (1 + np.exp(-(truth - 1)))
    scores = {
        "champion": 1 / (1 + np.exp(-(truth + rng.normal(scale=1.5, size=n)))),
        "challenger": 1
        / (1 + np.exp(-(challenger_signal * truth + rng.normal(scale=0.5, size=n)))),
    }
    start = datetime.now(UTC) - timedelta(hours=1)
    rows = []
    for i in range(n):
        variants = ("champion", "challenger") if shadow else (("champion", "challenger")[i % 2],)
        for variant in variants:
            p = float(scores[variant][i])
            rows.append(
                {
                    "record_id": f"{variant}-{i}",
                    "request_id": f"req-{i}",
                    "row_index": 0,
                    "customer_id": f"c-{i}",
                    "model_version": "1" if variant == "champion" else "2",
                    "model_alias": variant,
                    "created_at": start + timedelta(seconds=i),
                    "features": FEATURES,
                    "churn_probability": p,
                    "churn": p >= 0.5,
                    "latency_ms": 1.0,
                    "endpoint": "/predict",
                    "variant": variant,
                    "shadow": shadow and variant == "challenger",
                }
            )
    store.write_predictions(rows)  # type: ignore[arg-type]
    store.add_labels([Label(churn=bool(a), request_id=f"req-{i}") for i, a in enumerate(actual)])
    store.close()
    return url


@pytest.mark.usefixtures("project")
@pytest.mark.parametrize("shadow", [True, False])
def test_a_better_challenger_is_recommended(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, shadow: bool
) -> None:
    url = _store(tmp_path / "store.db", shadow=shadow, challenger_signal=1.0)
    code, out, err = run_cli(capsys, "experiment", "report", "--store-url", url, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["report"]["paired"] is shadow
    assert result["versions"] == {"challenger": ["2"], "champion": ["1"]}
    assert result["report"]["recommendation"] == "promote"
    assert result["report"]["auc_difference"]["estimate"] > 0


@pytest.mark.usefixtures("project")
def test_the_text_report_names_mode_and_recommendation(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = _store(tmp_path / "store.db", shadow=True, challenger_signal=1.0)
    code, out, _ = run_cli(capsys, "experiment", "report", "--store-url", url)
    assert code == 0
    assert "paired (shadow" in out
    assert "RECOMMENDATION: PROMOTE" in out


@pytest.mark.usefixtures("project")
def test_too_few_labels_is_one_clear_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = _store(tmp_path / "store.db", shadow=True, challenger_signal=1.0, n=20)
    code, _, err = run_cli(capsys, "experiment", "report", "--store-url", url)
    assert code != 0
    assert "Traceback" not in err
    assert "label" in err.lower()


@pytest.mark.usefixtures("project")
def test_service_actions_need_the_admin_key(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(
        capsys, "experiment", "stop", "--reason", "x", "--service-url", "http://127.0.0.1:9"
    )
    assert code == 2
    assert "CHURNGUARD_SERVING_API_KEY" in err
